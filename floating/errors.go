package floating

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal by the server, with a stable snake_case code. The API
// sends it as JSON {"code","message","status"}; the client returns it as
// is, so callers test the code with errors.As or [IsCode].
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

func (e *Error) Error() string { return e.Message + " (" + e.Code + ")" }

// Is makes errors.Is(err, &Error{Code: c}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// IsCode reports whether err is an *Error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Error codes. They are stable: clients and scripts test them.
const (
	CodeNoSeat             = "no_seat_available"
	CodeFeatureSeats       = "feature_seats_exhausted"
	CodeFeatureNotLicensed = "feature_not_licensed"
	CodeUnknownProduct     = "unknown_product"
	CodeLicenseNotValid    = "license_not_valid"
	CodeNonceInvalid       = "nonce_invalid"
	CodeProofInvalid       = "proof_invalid"
	CodeWrongServer        = "wrong_server"
	CodeClientNotAllowed   = "client_not_allowed"
	CodeLeaseUnknown       = "lease_unknown"
	CodeLeaseExpired       = "lease_expired"
	CodeNotHolder          = "not_lease_holder"
	CodeBorrowNotAllowed   = "borrow_not_allowed"
	CodeBorrowTooLong      = "borrow_too_long"
	CodeBorrowLimit        = "borrow_limit_reached"
	CodeLeaseBorrowed      = "lease_borrowed"
	CodeConsumptionCap     = "consumption_exceeded"
	CodeUnknownCounter     = "unknown_counter"
	CodeBadAmount          = "invalid_amount"
	CodeMalformed          = "malformed_request"
	CodeTooLarge           = "request_too_large"
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeLicenseKey         = "license_key_invalid"
	CodeRateLimited        = "rate_limited"
	CodeNotFound           = "not_found"
	CodeMethod             = "method_not_allowed"
	CodeBusy               = "server_busy"
	CodeInternal           = "internal_error"
)

var statusOf = map[string]int{
	CodeNoSeat:             http.StatusConflict,
	CodeFeatureSeats:       http.StatusConflict,
	CodeFeatureNotLicensed: http.StatusForbidden,
	CodeUnknownProduct:     http.StatusNotFound,
	CodeLicenseNotValid:    http.StatusServiceUnavailable,
	CodeNonceInvalid:       http.StatusUnauthorized,
	CodeProofInvalid:       http.StatusUnauthorized,
	CodeWrongServer:        http.StatusBadRequest,
	CodeClientNotAllowed:   http.StatusForbidden,
	CodeLeaseUnknown:       http.StatusNotFound,
	CodeLeaseExpired:       http.StatusGone,
	CodeNotHolder:          http.StatusForbidden,
	CodeBorrowNotAllowed:   http.StatusForbidden,
	CodeBorrowTooLong:      http.StatusBadRequest,
	CodeBorrowLimit:        http.StatusConflict,
	CodeLeaseBorrowed:      http.StatusConflict,
	CodeConsumptionCap:     http.StatusConflict,
	CodeUnknownCounter:     http.StatusNotFound,
	CodeBadAmount:          http.StatusBadRequest,
	CodeMalformed:          http.StatusBadRequest,
	CodeTooLarge:           http.StatusRequestEntityTooLarge,
	CodeUnauthorized:       http.StatusUnauthorized,
	CodeForbidden:          http.StatusForbidden,
	CodeLicenseKey:         http.StatusUnauthorized,
	CodeRateLimited:        http.StatusTooManyRequests,
	CodeNotFound:           http.StatusNotFound,
	CodeMethod:             http.StatusMethodNotAllowed,
	CodeBusy:               http.StatusServiceUnavailable,
	CodeInternal:           http.StatusInternalServerError,
	CodeClockTampered:      http.StatusServiceUnavailable,
	CodeReportOverdue:      http.StatusServiceUnavailable,
	CodeDatabaseTaken:      http.StatusServiceUnavailable,
}

func errorf(code, format string, a ...any) *Error {
	st := statusOf[code]
	if st == 0 {
		st = http.StatusBadRequest
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, a...), Status: st}
}
