import Dashboard
import DeliveryCore
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
        // 京 does not fit: the cell it would start in shows that the text goes on.
        #expect(grid.textLines() == ["ab東…"])
        #expect(grid[4, 0].text == "…")
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
    func anySizeRenders(size: (Int, Int)) async {
        for view in ViewKind.allCases {
            var state = await Fixture.state(view: view, width: size.0, height: size.1)
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

    @Test func tooSmallSnapshot() async {
        let state = await Fixture.state(width: 30, height: 8)
        assertSnapshot(DashboardRenderer.render(state).text(), named: "too-small-30x8")
    }
}

@Suite struct TextFastPathTests {
    @Test func namesSortWithNumbersInOrder() {
        let names = ["Customer 10", "customer 2", "Customer 1", "Customer 02b", "Billing", "api-10", "api-9", "東京"]
        #expect(
            names.sorted(by: NaturalOrder.less)
                == ["api-9", "api-10", "Billing", "Customer 1", "customer 2", "Customer 02b", "Customer 10", "東京"])
        #expect(NaturalOrder.less("Customer 2", "Customer 10"))
        #expect(!NaturalOrder.less("Customer 10", "Customer 2"))
        #expect(!NaturalOrder.less("same", "Same"))
        #expect(NaturalOrder.less("a", "a1"))
    }

    @Test func trimmingMatchesFoundation() {
        for text in ["", " ", "a", "  a b  ", "\ta\t", "\u{3000}全角\u{3000}", "\u{A0}x\u{2003}", " é\u{301} ", "x "] {
            #expect(Formatting.trimmingWhitespace(text) == text.trimmingCharacters(in: .whitespaces), "\(text.debugDescription)")
        }
    }

    /// The ASCII fast paths draw exactly what the general path draws.
    @Test func asciiFastPathsAgreeWithTheGeneralPath() {
        let texts = ["", "abc", "connect_refused", String(repeating: "x", count: 90), "a\u{7}b", "é", "ab支払い"]
        for text in texts {
            let general = text.reduce(0) { $0 + DisplayWidth.of($1) }
            #expect(DisplayWidth.of(text) == general)
            for width in [0, 1, 3, 8, 100] {
                let cut = DisplayWidth.truncate(text, to: width)
                #expect(DisplayWidth.of(cut) <= max(0, width))
                if general <= width { #expect(cut == text) }
            }
        }
        #expect(DisplayWidth.truncate("hello world", to: 8) == "hello w…")
        #expect(DisplayWidth.pad("ab", to: 5, alignRight: true) == "   ab")
        var grid = CellGrid(width: 10, height: 1)
        let end = grid.put("hello world", x: 2, y: 0, maxWidth: 6)
        #expect(end == 8)
        #expect(grid.text() == "  hello…", "clipped text ends with the ellipsis")
        #expect(grid[7, 0].text == "…" && grid[7, 0].width == 1)
        var exact = CellGrid(width: 10, height: 1)
        exact.put("hello", x: 0, y: 0, maxWidth: 5)
        #expect(exact.text() == "hello", "text that fits is not marked")
        var wide = CellGrid(width: 4, height: 1)
        wide.put("支払", x: 0, y: 0)
        wide.put("ab", x: 1, y: 0)  // overwrites the second half of 支: its first half is blanked
        #expect(wide.text() == " ab")
    }
}
