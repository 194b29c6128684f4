// Package lint holds repository-wide checks that run as tests: rules the
// compiler and vet do not know, such as "library errors name no command".
package lint
