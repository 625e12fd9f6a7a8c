import CNCurses
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The ncurses backend: the only type that calls curses. Owns the terminal from `init` to `close`.
///
/// Not `Sendable`: every call must come from the thread that created it.
public final class NCursesTerminal: Screen {
    public private(set) var supportsUnicode: Bool
    private var savedStderr: Int32 = -1
    private var closed = false
    private var attributes: [Attr] = []

    private struct Attr {
        var attrs: attr_t
        var pair: Int16
    }

    /// Starts curses. Throws (with the terminal untouched) when stdin/stdout are not a terminal or it cannot start.
    public init(options: DashboardOptions) throws {
        guard hooktop_is_tty() != 0 else {
            throw TerminalError("the dashboard needs a terminal (stdin and stdout must be a TTY)")
        }
        let term = ProcessInfo.processInfo.environment["TERM"] ?? "unset"
        switch hooktop_terminal_addressable() {
        case 1: break
        case 0:
            throw TerminalError(
                "TERM=\(term) cannot move the cursor, which the dashboard needs (try TERM=xterm-256color); `hooktop stats` and `hooktop deliveries` print plain text")
        default:
            throw TerminalError(
                "TERM=\(term) is not a terminal this machine knows (no terminfo entry); try TERM=xterm-256color")
        }
        supportsUnicode = hooktop_setup_locale() != 0
        savedStderr = hooktop_redirect_stderr(options.stderrLogPath)
        hooktop_install_signal_handlers()
        guard hooktop_start() == 0 else {
            hooktop_restore_signal_handlers()
            hooktop_restore_stderr(savedStderr)
            throw TerminalError(
                "cannot open the terminal (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? "unset"))")
        }
        cbreak()
        noecho()
        nonl()
        keypad(hooktop_stdscr(), true)
        curs_set(0)
        set_escdelay(50)
        if options.mouse { hooktop_enable_mouse() }
        let colors = options.colors && has_colors()
        if colors {
            start_color()
            use_default_colors()
        }
        attributes = Role.allCases.map { Self.attribute(for: $0, colors: colors) }
    }

    deinit { close() }

    /// Restores the terminal: ends curses, resets signal handlers, puts stderr back. Safe to call twice.
    public func close() {
        guard !closed else { return }
        closed = true
        hooktop_stop()
        hooktop_restore_signal_handlers()
        hooktop_restore_stderr(savedStderr)
        savedStderr = -1
    }

    public func page(_ text: String) -> String? {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-\(UUID().uuidString).txt").path
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot write a file for the pager: \(String(cString: strerror(errno)))" }
        defer { unlink(path) }
        do {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        } catch {
            return "cannot write a file for the pager: \(error.localizedDescription)"
        }
        let status = hooktop_run_pager(path)
        switch status {
        case 0: return nil
        case 127: return "the pager was not found (PAGER=\(ProcessInfo.processInfo.environment["PAGER"] ?? "less"))"
        case -1: return "cannot start the pager"
        default: return "the pager exited with status \(status)"
        }
    }

    public func copyToClipboard(_ text: String) {
        hooktop_write_raw("\u{1B}]52;c;" + Data(text.utf8).base64EncodedString() + "\u{07}")
    }

    public var size: (width: Int, height: Int) {
        var rows: Int32 = 0
        var cols: Int32 = 0
        hooktop_size(&rows, &cols)
        return (Int(cols), Int(rows))
    }

    public func draw(_ grid: CellGrid, fullRedraw: Bool) {
        if fullRedraw { clearok(hooktop_stdscr(), true) }
        erase()
        var buffer = [wchar_t](repeating: 0, count: 8)
        let limit = min(grid.width, Int(hooktop_cols()))
        for y in 0..<min(grid.height, Int(hooktop_lines())) {
            for x in 0..<limit {
                let cell = grid[x, y]
                guard cell.width > 0 else { continue }
                if cell.width == 2, x + 1 >= limit { continue }
                var count = 0
                for scalar in cell.text.unicodeScalars where count < 5 {
                    buffer[count] = wchar_t(bitPattern: supportsUnicode || scalar.isASCII ? scalar.value : 0x3F)
                    count += 1
                }
                if count == 0 {
                    buffer[0] = 0x20
                    count = 1
                }
                let attribute = attributes[Int(cell.style.role.rawValue)]
                let attrs = attribute.attrs | (cell.style.bold ? hooktop_a_bold() : 0)
                _ = hooktop_put_cell(Int32(y), Int32(x), buffer, Int32(count), attrs, attribute.pair)
            }
        }
        wnoutrefresh(hooktop_stdscr())
        doupdate()
    }

    public func readKey(timeoutMilliseconds: Int) -> Key? {
        wtimeout(hooktop_stdscr(), Int32(timeoutMilliseconds))
        var value: Int32 = 0
        switch hooktop_read_key(&value) {
        case 0: return Self.character(value)
        case 1: return functionKey(value)
        default: return nil
        }
    }

    /// A quit signal arrived (SIGINT, SIGTERM, SIGHUP), or the terminal hung up: when the pty is gone (an SSH drop,
    /// a killed tmux) SIGHUP can be missed, and every read then fails at once: without this the loop would spin.
    public func takeQuitSignal() -> Bool {
        if hooktop_take_signal() != 0 { return true }
        var terminal = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&terminal, 1, 0) >= 0 else { return false }
        return terminal.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
    }

    private static func character(_ value: Int32) -> Key? {
        switch value {
        case 27: return .escape
        case 9: return .tab
        case 10, 13: return .enter
        case 8, 127: return .backspace
        case 1...26: return .ctrl(Character(UnicodeScalar(UInt8(value) + 96)))
        default:
            guard let scalar = UnicodeScalar(UInt32(bitPattern: value)) else { return nil }
            return .char(Character(scalar))
        }
    }

    private func functionKey(_ value: Int32) -> Key? {
        switch value {
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_ENTER: return .enter
        case KEY_BTAB: return .backTab
        case KEY_BACKSPACE: return .backspace
        case KEY_DC: return .delete
        case KEY_RESIZE: return .resize
        case KEY_MOUSE:
            var x: Int32 = 0
            var y: Int32 = 0
            var state: UInt = 0
            guard hooktop_mouse(&x, &y, &state) == 0 else { return nil }
            let bstate = mmask_t(state)
            if bstate & hooktop_button4_pressed() != 0 { return .wheelUp }
            if bstate & hooktop_button5_pressed() != 0 { return .wheelDown }
            if bstate & hooktop_button1_clicked() != 0 { return .mouseClick(x: Int(x), y: Int(y)) }
            return nil
        default: return .unknown(Int(value))
        }
    }

    /// Colour pairs (numbered by role) or, without colour, bold/reverse/dim/underline only.
    private static func attribute(for role: Role, colors: Bool) -> Attr {
        let bold = hooktop_a_bold()
        let reverse = hooktop_a_reverse()
        let dim = hooktop_a_dim()
        let underline = hooktop_a_underline()
        guard colors else {
            let attrs: attr_t =
                switch role {
                case .normal, .header, .ok, .accent, .modal, .tabInactive: 0
                case .dim: dim
                case .title, .warning, .error, .key, .modalTitle: bold
                case .tabActive, .selected, .badge: reverse
                case .badgeAlert: reverse | bold
                case .columnHeader: underline | bold
                }
            return Attr(attrs: attrs, pair: 0)
        }
        let (fg, bg, attrs): (Int16, Int16, attr_t) =
            switch role {
            case .normal, .header, .modal, .tabInactive: (-1, -1, 0)
            case .dim: (-1, -1, dim)
            case .title: (Int16(COLOR_CYAN), -1, bold)
            case .tabActive: (Int16(COLOR_BLACK), Int16(COLOR_CYAN), 0)
            case .columnHeader: (Int16(COLOR_BLACK), Int16(COLOR_GREEN), 0)
            case .selected: (Int16(COLOR_BLACK), Int16(COLOR_CYAN), 0)
            case .ok: (Int16(COLOR_GREEN), -1, 0)
            case .warning: (Int16(COLOR_YELLOW), -1, 0)
            case .error: (Int16(COLOR_RED), -1, 0)
            case .accent: (Int16(COLOR_CYAN), -1, 0)
            case .key: (Int16(COLOR_CYAN), -1, bold)
            case .badge: (Int16(COLOR_BLACK), Int16(COLOR_GREEN), 0)
            case .badgeAlert: (Int16(COLOR_WHITE), Int16(COLOR_RED), bold)
            case .modalTitle: (Int16(COLOR_YELLOW), -1, bold)
            }
        let pair = Int16(role.rawValue) + 1
        init_pair(pair, fg, bg)
        return Attr(attrs: attrs, pair: pair)
    }
}

/// The terminal could not be opened; raised before curses touches the screen.
public struct TerminalError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
