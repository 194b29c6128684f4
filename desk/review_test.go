package desk_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

// Review answers as Sign would, before it, and writes nothing: a new
// seat, the same machine's seat again, the last seat taken, and an
// auto-created license that is not created.
func TestReviewAnswersAsSignWouldAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := e.addLicense(func(l *ledger.License) { l.MaxMachines = 1 })
	req := e.request(machine(t, nil), key)
	head, _, _ := e.led.AuditHead(ctx)

	rv := e.desk.Review(ctx, req.Bytes)
	if rv.Problem != nil || rv.Existing != "" || rv.SeatsUsed != 0 || rv.SeatsLeft() != 1 || rv.License.Licensee != "Example GmbH" {
		t.Fatalf("review of a first request: problem %v, existing %q, used %d, left %d", rv.Problem, rv.Existing, rv.SeatsUsed, rv.SeatsLeft())
	}
	if after, _, _ := e.led.AuditHead(ctx); after != head {
		t.Fatalf("Review wrote to the audit log (%d -> %d)", head, after)
	}
	e.wantNoActivation(key)

	iss := e.mustSign(req)
	again := e.desk.Review(ctx, e.request(machine(t, nil), key).Bytes)
	if again.Problem != nil || again.Existing != fmt.Sprintf("%x", iss.License.License.ActivationID) || again.SeatsUsed != 1 {
		t.Fatalf("review of the same machine again: problem %v, existing %q, used %d", again.Problem, again.Existing, again.SeatsUsed)
	}

	// A renewal from the same installation extends its lease: no new seat.
	p := e.params(machine(t, nil), key)
	p.Kind, p.Renews = request.KindRenew, iss.License.License.ActivationID
	renew := e.desk.Review(ctx, e.makeRequest(p, e.inst).Bytes)
	if renew.Problem != nil || !renew.Renewal || renew.Existing != fmt.Sprintf("%x", iss.License.License.ActivationID) {
		t.Fatalf("review of a renewal: problem %v, renewal %v, existing %q", renew.Problem, renew.Renewal, renew.Existing)
	}

	other := e.makeRequest(e.params(otherMachine(t), key), e.inst)
	full := e.desk.Review(ctx, other.Bytes)
	if full.ProblemCode() != result.TooManyMachines || full.SeatsLeft() != 0 {
		t.Fatalf("review of one machine too many: %v (%s), left %d", full.Problem, full.ProblemCode(), full.SeatsLeft())
	}
	if _, err := e.sign(other); result.CodeOf(err) != full.ProblemCode() {
		t.Fatalf("Sign says %s, Review said %s", result.CodeOf(err), full.ProblemCode())
	}

	e.setProduct(product, nil)
	fresh := e.newKey()
	auto := e.desk.Review(ctx, e.request(machine(t, nil), fresh).Bytes)
	if auto.Problem != nil || !auto.AutoCreate || auto.License.Key != fresh {
		t.Fatalf("review of an auto-created license: problem %v, auto %v", auto.Problem, auto.AutoCreate)
	}
	e.wantNoLicense(fresh)

	if bad := e.desk.ReviewText(ctx, []byte("not a request")); bad.ProblemCode() != result.Malformed {
		t.Fatalf("review of garbage: %v", bad.Problem)
	}
}
