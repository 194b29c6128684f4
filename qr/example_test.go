package qr_test

import (
	"bytes"
	"fmt"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/qr"
)

func ExamplePlan() {
	request := bytes.Repeat([]byte{0xa5}, 350) // the size of a typical request
	codes, err := qr.Plan(armor.Request, request, qr.Options{})
	if err != nil {
		panic(err)
	}
	for _, c := range codes {
		fmt.Printf("%d characters, version %d-%s\n", len(c.Text), c.Version, c.Level)
	}

	license := bytes.Repeat([]byte{0xa5}, 800) // too large for one code
	codes, err = qr.Plan(armor.License, license, qr.Options{})
	if err != nil {
		panic(err)
	}
	for _, c := range codes {
		fmt.Printf("%.9s… %d characters, version %d-%s\n", c.Text, len(c.Text), c.Version, c.Level)
	}
	// Output:
	// 563 characters, version 15-M
	// AL912PUAX… 649 characters, version 16-M
	// AL922PUAX… 649 characters, version 16-M
}

func ExampleDecodeImage() {
	code := qr.Code{Text: "AR1AE", Level: qr.LevelM}
	png, err := code.PNG(qr.Options{PixelsPerModule: 4})
	if err != nil {
		panic(err)
	}
	texts, err := qr.DecodeImage(bytes.NewReader(png))
	if err != nil {
		panic(err)
	}
	fmt.Println(texts)
	// Output: [AR1AE]
}

func ExampleCode_Terminal() {
	code := qr.Code{Text: "AR1AE", Level: qr.LevelM}
	fmt.Print(code.Terminal()) // light modules drawn, for a dark terminal
	// Output:
	// █████████████████████████████
	// █████████████████████████████
	// ████ ▄▄▄▄▄ ██ ▄█▄█ ▄▄▄▄▄ ████
	// ████ █   █ █ ▄██ █ █   █ ████
	// ████ █▄▄▄█ █  █▄ █ █▄▄▄█ ████
	// ████▄▄▄▄▄▄▄█ ▀▄▀ █▄▄▄▄▄▄▄████
	// ████ ▀▄▄▄ ▄▀▀▀▄█ █▄ ▄▄ ▀█████
	// ████▄▀█▀▀█▄█▄█ ▄█▄█▀ ▀  ▄████
	// ██████▄▄██▄█▀█  ▀ ▀█▄▀█ ▄████
	// ████ ▄▄▄▄▄ █▀ ▄▀ ▀ ▄█▀▀█ ████
	// ████ █   █ █ █ █ ██ █▄▀██████
	// ████ █▄▄▄█ █▄██▄█▄█▀ █ █▀████
	// ████▄▄▄▄▄▄▄█▄▄▄▄█▄██▄█▄██████
	// █████████████████████████████
	// ▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀
}
