package browser

import (
	"context"
	"fmt"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// auditJS lists what a screen reader or a keyboard user would miss on the
// page: no title, no lang, not exactly one h1, form controls without a
// label, buttons and links without a name, images without alt, positive
// tabindex (breaks the Tab order).
const auditJS = `(function () {
  var p = [];
  if (!document.title.trim()) p.push("the page has no title");
  if (!document.documentElement.lang) p.push("<html> has no lang");
  if (document.querySelectorAll("h1").length !== 1) p.push("the page has " + document.querySelectorAll("h1").length + " h1 headings, want 1");
  function name(el) {
    if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.getAttribute("title")) return true;
    if (el.labels && el.labels.length) return true;
    return false;
  }
  function desc(el) { return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.name ? "[name=" + el.name + "]" : ""); }
  document.querySelectorAll("input, select, textarea").forEach(function (el) {
    if (el.type === "hidden" || el.type === "submit" || el.type === "button") return;
    if (!name(el)) p.push(desc(el) + " has no label");
  });
  document.querySelectorAll("button, a[href], input[type=submit]").forEach(function (el) {
    if (!(el.textContent || el.value || "").trim() && !name(el)) p.push(desc(el) + " has no accessible name");
  });
  document.querySelectorAll("img").forEach(function (el) {
    if (!el.hasAttribute("alt")) p.push(desc(el) + " has no alt text");
  });
  document.querySelectorAll("[tabindex]").forEach(function (el) {
    if (parseInt(el.getAttribute("tabindex"), 10) > 0) p.push(desc(el) + " has a positive tabindex");
  });
  return p;
})()`

// Audit returns what the current page lacks for screen readers and
// keyboard users (see auditJS); nil means nothing found.
func Audit(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](auditJS))
}

// Zoom200 shows the page as at 200 % zoom on a 1280-pixel-wide screen (a
// 640 CSS-pixel viewport at device scale 2) and reports an error if the
// page then needs sideways scrolling. Call Zoom100 to go back.
func Zoom200(ctx context.Context) error {
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(640, 500, chromedp.EmulateScale(2))); err != nil {
		return err
	}
	over, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		return err
	}
	if over {
		w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		return fmt.Errorf("at 200 %% zoom the page is %d CSS pixels wide in a 640-pixel window: it scrolls sideways", w)
	}
	return nil
}

// Zoom100 undoes Zoom200.
func Zoom100(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1000))
}

// TabTo presses Tab from the top of the page until the element matching
// the CSS selector has the focus, at most max times, and returns how many
// presses it took: proof that a keyboard reaches it. Then press Enter with
// chromedp.KeyEvent(kb.Enter).
func TabTo(ctx context.Context, selector string, max int) (int, error) {
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur(); window.focus()`)); err != nil {
		return 0, err
	}
	check := fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, selector)
	for i := 1; i <= max; i++ {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			return i, err
		}
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](check))
		if err != nil {
			return i, err
		}
		if ok {
			return i, nil
		}
	}
	return max, fmt.Errorf("%d presses of Tab did not reach %s", max, selector)
}

// WaitFor evaluates the JavaScript expression until it is true, across
// page loads (a form's submission replaces the page mid-poll, which
// chromedp.Poll reports as an error), for at most d.
func WaitFor(ctx context.Context, expr string, d time.Duration) error {
	end := time.Now().Add(d)
	var last error
	for time.Now().Before(end) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if last != nil {
		return fmt.Errorf("waited %v for %s: %w", d, expr, last)
	}
	return fmt.Errorf("waited %v for %s", d, expr)
}
