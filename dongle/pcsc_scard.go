//go:build cgo || windows

package dongle

import (
	"errors"

	"github.com/ebfe/scard"
)

// builtIn: this build talks to PC/SC through github.com/ebfe/scard (cgo and
// libpcsclite on Linux and macOS, winscard.dll without cgo on Windows).
const builtIn = true

func establishPCSC() (pcscContext, error) {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return nil, mapErr(err)
	}
	return &scardContext{ctx}, nil
}

type scardContext struct{ ctx *scard.Context }

func (c *scardContext) ListReaders() ([]string, error) {
	names, err := c.ctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return names, nil
}

func (c *scardContext) Present(readers []string) ([]readerState, error) {
	states := make([]scard.ReaderState, len(readers))
	for i, r := range readers {
		states[i] = scard.ReaderState{Reader: r, CurrentState: scard.StateUnaware}
	}
	// With every state unaware, the call returns at once.
	if err := c.ctx.GetStatusChange(states, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return nil, mapErr(err)
	}
	out := make([]readerState, len(readers))
	for i, st := range states {
		out[i].card = st.EventState&scard.StatePresent != 0 && st.EventState&scard.StateMute == 0
		// pcsc-lite puts the reader's event counter in the upper 16 bits.
		out[i].events = uint16(uint32(st.EventState) >> 16)
	}
	return out, nil
}

func (c *scardContext) Connect(reader string) (pcscCard, error) {
	card, err := c.ctx.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return nil, mapErr(err)
	}
	return &scardCard{card}, nil
}

func (c *scardContext) Cancel() error  { return mapErr(c.ctx.Cancel()) }
func (c *scardContext) Release() error { return mapErr(c.ctx.Release()) }

type scardCard struct{ card *scard.Card }

func (c *scardCard) Transmit(cmd []byte) ([]byte, error) {
	resp, err := c.card.Transmit(cmd)
	if err != nil {
		return nil, mapErr(err)
	}
	return resp, nil
}

func (c *scardCard) BeginTransaction() error { return mapErr(c.card.BeginTransaction()) }
func (c *scardCard) EndTransaction() error {
	return mapErr(c.card.EndTransaction(scard.LeaveCard))
}

func (c *scardCard) Reconnect() error {
	return mapErr(c.card.Reconnect(scard.ShareShared, scard.ProtocolAny, scard.ResetCard))
}

func (c *scardCard) Disconnect(reset bool) error {
	d := scard.LeaveCard
	if reset {
		d = scard.ResetCard
	}
	return mapErr(c.card.Disconnect(d))
}

// mapErr files a PC/SC error under the failure it means for the user,
// keeping the original (errors.Is finds both).
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se scard.Error
	if !errors.As(err, &se) {
		return cause(ErrPCSC, err)
	}
	switch se {
	case scard.ErrSuccess:
		return nil
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrCommError:
		return cause(ErrNoService, err)
	case scard.ErrNoReadersAvailable, scard.ErrUnknownReader, scard.ErrReaderUnavailable:
		return cause(ErrNoReader, err)
	case scard.ErrNoSmartcard:
		return cause(ErrNoCard, err)
	case scard.ErrRemovedCard, scard.ErrResetCard, scard.ErrUnpoweredCard, scard.ErrNotTransacted:
		return cause(ErrRemoved, err)
	case scard.ErrSharingViolation:
		return cause(ErrSharingViolation, err)
	case scard.ErrTimeout, scard.ErrCancelled:
		return cause(ErrTimeout, err)
	case scard.ErrUnresponsiveCard, scard.ErrUnsupportedCard, scard.ErrCardUnsupported, scard.ErrProtoMismatch:
		return cause(ErrUnsupportedCard, err)
	}
	return cause(ErrPCSC, err)
}
