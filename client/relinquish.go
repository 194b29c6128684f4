package client

import (
	"errors"
	"fmt"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/result"
)

// ErrReceiptNotWritten means the receipt could not be handed on: the
// license is still installed, and giving it up again makes the same
// receipt.
var ErrReceiptNotWritten = errors.New("the receipt could not be written; the license is still installed")

// GiveUp gives up the installed license of v.Product, as `airlock
// deactivate` does: it makes the signed receipt (Deactivate), hands it to
// write, and removes the license only once write succeeded. If the license
// is already gone, the receipt kept from last time goes to write again and
// again is true. inst is called only when a new receipt must be signed.
func (v *Verifier) GiveUp(inst func() (*crypto.Identity, error), write func(receipt []byte) error) (again bool, err error) {
	st, err := OpenExisting(v.Dir)
	if err != nil {
		return false, result.Wrap(result.Internal, "cannot open the state directory", err)
	}
	if _, err := st.License(v.Product); result.CodeOf(err) == result.NotActivated {
		kept, rerr := st.Receipt(v.Product)
		if rerr != nil {
			return false, err
		}
		if err := write(kept); err != nil {
			return true, err
		}
		return true, nil
	}
	id, err := inst()
	if err != nil {
		return false, err
	}
	r, err := v.Deactivate(id)
	if err != nil {
		return false, err
	}
	// The receipt is out (and kept) before the license goes.
	if err := write(r.Text()); err != nil {
		return false, fmt.Errorf("%w: %w", ErrReceiptNotWritten, err)
	}
	if err := st.RemoveLicense(v.Product); err != nil {
		return false, fmt.Errorf("the receipt is written but the license could not be removed: %w", err)
	}
	return false, nil
}
