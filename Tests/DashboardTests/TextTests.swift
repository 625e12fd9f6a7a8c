import Dashboard
import Foundation
import Testing

@Suite struct SanitizerTests {
    static func isSafe(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { s in !(s.value < 0x20 || (0x7F...0x9F).contains(s.value)) }
    }

    @Test func everyC0ControlDELAndC1IsRemovedOrMadeVisible() {
        for value in Array(0x00...0x1F) + [0x7F] + Array(0x80...0x9F) {
            let text = "a" + String(UnicodeScalar(UInt32(value))!) + "b"
            let line = Sanitizer.line(text)
            #expect(Self.isSafe(line), "0x\(String(value, radix: 16)) survived: \(line.debugDescription)")
            #expect(line.hasPrefix("a"))
            for part in Sanitizer.lines(text) { #expect(Self.isSafe(part)) }
        }
        #expect(Sanitizer.line("a\tb") == "a b")
        #expect(Sanitizer.line("bell\u{07}") == "bell^G")
        #expect(Sanitizer.lines("one\r\ntwo\nthree") == ["one", "two", "three"])
    }

    @Test func escapeSequencesAreRemovedWhole() {
        let cases: [(String, String)] = [
            ("\u{1b}]0;owned\u{07}\u{1b}[2J", "^[^["),  // OSC (BEL) + CSI
            ("x\u{1b}]2;title\u{1b}\\y", "x^[y"),  // OSC ended by ST
            ("\u{1b}[31;1mred\u{1b}[0m", "^[red^["),  // SGR
            ("\u{1b}[?1049h", "^["),  // private CSI
            ("\u{1b}P1$r0m\u{1b}\\after", "^[after"),  // DCS
            ("\u{1b}_apc\u{1b}\\z", "^[z"),  // APC
            ("\u{1b}^pm\u{07}z", "^[z"),  // PM
            ("\u{1b}Xsos\u{9c}z", "^[z"),  // SOS ended by C1 ST
            ("\u{9b}2Jz", "^[z"),  // 8-bit CSI
            ("\u{9d}0;t\u{07}z", "^[z"),  // 8-bit OSC
            ("\u{1b}(Bz", "^[z"),  // charset designation
            ("\u{1b}cz", "^[z"),  // RIS
            ("\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\", "^[link^["),  // hyperlink
        ]
        for (input, expected) in cases {
            let output = Sanitizer.line(input)
            #expect(output == expected, "\(input.debugDescription) → \(output.debugDescription)")
            #expect(!output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
        }
        // An unterminated string sequence swallows the rest rather than leaking it.
        #expect(Self.isSafe(Sanitizer.line("\u{1b}]0;never ends")))
    }

    @Test func bidiOverridesAreVisible() {
        #expect(Sanitizer.line("a\u{202E}b") == "a<U+202E>b")
    }

    @Test func cjkAndEmojiPassThrough() {
        #expect(Sanitizer.line("東京 👍 café") == "東京 👍 café")
    }
}

@Suite struct DisplayWidthTests {
    @Test func widths() {
        #expect(DisplayWidth.of("abc") == 3)
        #expect(DisplayWidth.of("東京") == 4)
        #expect(DisplayWidth.of("ｆｕｌｌ") == 8)
        #expect(DisplayWidth.of("한국") == 4)
        #expect(DisplayWidth.of("e\u{301}") == 1)  // combining acute
        #expect(DisplayWidth.of("a\u{200B}b") == 2)  // zero width space
        #expect(DisplayWidth.of("👍") == 2)
    }

    @Test func truncationNeverSplitsAWideCharacter() {
        #expect(DisplayWidth.truncate("東京都庁", to: 5) == "東京…")
        #expect(DisplayWidth.truncate("東京都庁", to: 4, ellipsis: "…") == "東…")
        #expect(DisplayWidth.truncate("東京都庁", to: 8) == "東京都庁")
        for width in 0...9 {
            let cut = DisplayWidth.truncate("a東京b都庁", to: width)
            #expect(DisplayWidth.of(cut) <= width)
        }
        #expect(DisplayWidth.pad("東京", to: 5) == "東京 ")
        #expect(DisplayWidth.pad("東京都", to: 5) == "東京…")
    }

    @Test func gridNeverSplitsAWideCharacter() {
        var grid = CellGrid(width: 5, height: 1)
        grid.put("ab東京", x: 0, y: 0)
        #expect(grid.textLines() == ["ab東"])
        #expect(grid[4, 0].text == " ")
        var combining = CellGrid(width: 4, height: 1)
        combining.put("e\u{301}x", x: 0, y: 0)
        #expect(combining.textLines() == ["e\u{301}x"])
    }
}

@Suite struct JSONPrettyPrinterTests {
    @Test func prettyPrintsKeepingOrder() {
        let lines = JSONPrettyPrinter.format(#"{"b":1,"a":[true,null,{"x":"y \" z"}],"e":{},"f":[]}"#)
        #expect(
            lines == [
                "{", "  \"b\": 1,", "  \"a\": [", "    true,", "    null,", "    {", "      \"x\": \"y \\\" z\"",
                "    }",
                "  ],", "  \"e\": {},", "  \"f\": []", "}",
            ])
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "nope", "{\"a\":1} x", "\"unterminated", "[1 2]", "{1:2}"])
    func invalidJSONIsNil(text: String) {
        #expect(JSONPrettyPrinter.format(text) == nil)
    }

    @Test func deepNestingDoesNotCrash() {
        #expect(JSONPrettyPrinter.format(String(repeating: "[", count: 100_000)) == nil)
        #expect(JSONPrettyPrinter.format(String(repeating: "[", count: 10) + String(repeating: "]", count: 10)) != nil)
    }
}

@Suite struct SizeTests {
    @Test(arguments: [(1, 1), (20, 5), (39, 10), (40, 9), (40, 10), (79, 23), (80, 24), (200, 60), (0, 0)])
    func anySizeRenders(size: (Int, Int)) {
        for view in ViewKind.allCases {
            var state = Fixture.state(view: view, width: size.0, height: size.1)
            for key: Key in [.enter, .char("?"), .escape, .escape, .char("/")] {
                _ = state.update(.key(key))
                let grid = DashboardRenderer.render(state)
                #expect(grid.width == max(0, size.0))
                let text = grid.text()
                if size.0 < DashboardState.minimumWidth || size.1 < DashboardState.minimumHeight, size.0 >= 20,
                    size.1 >= 3
                {
                    #expect(text.contains("too small"))
                    #expect(text.contains("\(size.0)x\(size.1)"))
                }
            }
        }
    }

    @Test func tooSmallSnapshot() {
        let state = Fixture.state(width: 30, height: 8)
        assertSnapshot(DashboardRenderer.render(state).text(), named: "too-small-30x8")
    }
}
