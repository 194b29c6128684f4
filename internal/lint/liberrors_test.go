package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// libraryPackages are the packages an ISV imports: their errors must carry
// a code or a sentinel and a plain message, never a command to run, which
// the ISV's product may not have. The commands add hints (errors.Is).
var libraryPackages = []string{
	"client", "request", "response", "receipt", "crypto", "desk", "ledger",
	"fingerprint", "phonecode", "licensekey", "qr", "result", "dongle", "floating",
}

// commandWords matches our own command lines in a message: "airlock
// request", "airlock-vendor sign", "run `…`".
var commandWords = regexp.MustCompile("\\bairlock(-vendor|-server)? (fingerprint|request|activate|verify|deactivate|status|dongle|inspect|init|pubkey|license|sign|receipt|audit|ledger|product|serve)\\b|run `")

// errorFuncs are the calls whose string arguments become error messages.
var errorFuncs = map[string]bool{
	"errors.New": true, "fmt.Errorf": true, "result.New": true, "result.Wrap": true,
	"New": true, "Wrap": true, // inside package result
	"errorf": true, // inside package floating
}

func TestLibraryErrorsNameNoCommand(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	for _, pkg := range libraryPackages {
		files, err := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("package %s: no Go files (%v)", pkg, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, f, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !errorFuncs[callName(call.Fun)] {
					return true
				}
				for _, arg := range call.Args {
					ast.Inspect(arg, func(m ast.Node) bool {
						lit, ok := m.(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							return true
						}
						s, err := strconv.Unquote(lit.Value)
						if err != nil {
							return true
						}
						checked++
						// "an airlock ledger" names a thing, not a command.
						if commandWords.MatchString(strings.ReplaceAll(s, "an airlock ", "")) {
							t.Errorf("%s: an error message names a command: %q", fset.Position(lit.Pos()), s)
						}
						return true
					})
				}
				return true
			})
		}
	}
	if checked < 200 {
		t.Fatalf("only %d error strings checked: the scan is broken", checked)
	}
}

func callName(e ast.Expr) string {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			return x.Name + "." + f.Sel.Name
		}
	}
	return ""
}
