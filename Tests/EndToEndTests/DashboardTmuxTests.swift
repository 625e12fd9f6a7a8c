import DeliveryCore
import Foundation
import HooktopLab
import HooktopReceivers
import HooktopTesting
import Synchronization
import Testing

@testable import DeliveryCore

#if canImport(Glibc)
    import Glibc
#endif

/// The built `hooktop` dashboard under tmux: real terminal, real keys, real database.
///
/// Every test gets its own temporary database (a copy of a `hooktop demo --headless` run, or one built with the store
/// API), its own tmux server (`tmux -L <unique>`) at 80x24, waits for what it expects on screen (bounded polling, no
/// bare sleeps), and kills its tmux server when it ends. tmux is required: without it the tests fail and say so.
@Suite(.timeLimit(.minutes(2)))
struct DashboardTmuxTests {
    @Test func opensOnTheFixtureWithHeaderAndEndpoints() async throws {
        let fixture = try await DemoFixture.make()
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("1 Endpoints", "Acme billing", "Umbrella: down")
        let screen = tmux.capture()
        #expect(screen.contains("hooktop.db"))
        #expect(screen.contains(" RW "))
        #expect(screen.contains("dispatcher"))
        #expect(screen.contains("OK 5m"))
        for name in ["Acme billing", "Globex CRM", "Hooli", "Initech", "Soylent", "Stark", "Umbrella"] {
            #expect(screen.contains(name), "endpoint \(name) missing:\n\(screen)")
        }
        // Endpoints are named by their description, not by their random ids.
        #expect(!screen.contains("ep_"))
    }

    @Test func switchesViewsWithNumbersAndTab() async throws {
        let fixture = try await DemoFixture.make()
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("OK 5m", "Acme billing")
        let marks: [(key: String, columns: [String])] = [
            ("2", ["STATUS", "EVENT", "RESULT"]),
            ("3", ["FAILURE", "SAMPLE ERROR"]),
            ("4", ["DUE", "ATTEMPT", "LAST RESULT"]),
            ("5", ["MESSAGE", "FAN-OUT"]),
            ("1", ["OK 5m", "QUEUE"]),
        ]
        for mark in marks {
            tmux.send(mark.key)
            try await tmux.waitFor(mark.columns)
        }
        tmux.send("Tab")
        try await tmux.waitFor("RESULT", "ID")
        tmux.send("Tab")
        try await tmux.waitFor("FAILURE")
        tmux.send("BTab")
        try await tmux.waitFor("RESULT", "ID")
    }

    @Test func filtersTheDeliveriesByStatus() async throws {
        let fixture = try await DemoFixture.make()
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("Acme billing")
        tmux.send("2")
        // The newest rows: which statuses they have depends on how far the demo run got on a loaded machine.
        let otherStatuses = ["delivered", "pending", "retrying", "inflight"]
        try await tmux.waitFor(describing: "the deliveries, not only dead ones") { screen in
            screen.contains("RESULT") && otherStatuses.contains { screen.contains($0) }
        }
        tmux.send("/")
        try await tmux.waitFor("Enter apply")
        tmux.type("status:dead")
        tmux.send("Enter")
        try await tmux.waitFor { $0.contains("/ status:dead") && $0.contains("✗ dead") && !$0.contains("loading") }
        let rows = tmux.tableRows()
        #expect(!rows.isEmpty)
        for row in rows { #expect(row.contains("✗ dead"), "a row that is not dead: \(row)") }
        let filtered = tmux.capture()
        #expect(!otherStatuses.contains { filtered.contains($0) }, "\(filtered)")
        // Esc clears the filter: other statuses come back.
        tmux.send("Escape")
        try await tmux.waitFor(describing: "the filter cleared, other statuses back") { screen in
            screen.contains("filter cleared") && otherStatuses.contains { screen.contains($0) }
        }
    }

    @Test func enterOpensTheDetailAndEscReturns() async throws {
        let fixture = try await DemoFixture.make()
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("Acme billing")
        tmux.send("3")
        try await tmux.waitFor("FAILURE", "connect_refused")
        tmux.send("Enter")  // expand the first failure group
        try await tmux.waitFor(describing: "the group's deliveries") { screen in
            screen.contains("▾") && tmux.tableRows().contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        }
        tmux.send("j", "Enter")  // the group's newest delivery
        try await tmux.waitFor("Delivery #", "ATTEMPTS", "REQUEST", "webhook-signature")
        let screen = tmux.capture()
        #expect(screen.contains("endpoint  "))
        #expect(screen.contains("ep_"), "the detail shows the endpoint id:\n\(screen)")
        tmux.send("Escape")
        try await tmux.waitFor("FAILURE", "SAMPLE ERROR")
        #expect(!tmux.capture().contains("ATTEMPTS"))
    }

    @Test func pausesAnEndpoint() async throws {
        let fixture = try await DemoFixture.make()
        let store = try Store(path: fixture.database, readOnly: true)
        let acme = try #require(try store.endpoints().first { $0.description.hasPrefix("Acme billing") })
        #expect(acme.status == .active)
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("Acme billing")
        // Sorted by name, Acme is the first row and selected.
        #expect(tmux.tableRows().first?.contains("Acme billing") == true)
        tmux.send("p")
        try await tmux.waitFor("paused Acme billing", "○ paused")
        #expect(try store.endpoint(id: acme.id)?.status == .paused)
        #expect(tmux.capture().contains("paused 1"))
        tmux.send("p")
        try await tmux.waitFor("resumed Acme billing")
        #expect(try store.endpoint(id: acme.id)?.status == .active)
    }

    @Test func redeliversADeadDelivery() async throws {
        let fixture = try await DemoFixture.make()
        // The only dead delivery of a short demo belongs to the endpoint that answered 410 and was disabled:
        // enable it, so that a redelivery is allowed (its receiver is gone now: the attempt is refused, and recorded).
        let setup = try Store(path: fixture.database)
        let gone = try #require(try setup.endpoints().first { $0.status == .disabled })
        try await Operations(store: setup).enable(endpointId: gone.id, by: testActor)
        let dead = try #require(try setup.deliveries(DeliveryQuery(statuses: [.dead], limit: 10)).first)
        let before = try setup.attempts(deliveryId: dead.id).count
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("Acme billing")
        tmux.send("2", "/")
        try await tmux.waitFor("Enter apply")
        tmux.type("status:dead")
        tmux.send("Enter")
        try await tmux.waitFor { $0.contains("/ status:dead") && $0.contains("✗ dead") && !$0.contains("loading") }
        tmux.send("r")
        // No dispatcher is alive: the dashboard sends it itself and says so, with the result.
        try await tmux.waitFor("sent from this dashboard")
        let reader = try Store(path: fixture.database, readOnly: true)
        let after = try #require(try reader.delivery(id: dead.id))
        #expect(after.attemptCount == dead.attemptCount + 1)
        let attempts = try reader.attempts(deliveryId: dead.id)
        #expect(attempts.count == before + 1)
        #expect(attempts.last?.trigger == .manual)
    }

    @Test func followsResizesDownToTooSmallAndBack() async throws {
        let fixture = try await DemoFixture.make()
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("Acme billing", "OK 5m")
        #expect(!tmux.capture().contains("URL"))
        tmux.resize(width: 120, height: 40)
        try await tmux.waitFor("URL", "P50", "http://127.0.0.1")
        #expect(tmux.capture().split(separator: "\n", omittingEmptySubsequences: false).count >= 40)
        tmux.resize(width: 60, height: 20)
        try await tmux.waitFor { !$0.contains("URL") && $0.contains("Acme billing") && $0.contains("QUEUE") }
        tmux.resize(width: 30, height: 8)
        try await tmux.waitFor("terminal too small", "(30x8")
        tmux.resize(width: 80, height: 24)
        try await tmux.waitFor { $0.contains("Acme billing") && $0.contains("OK 5m") && !$0.contains("too small") }
    }

    /// A terminal that cannot move the cursor gets one line saying so, and a non-zero exit.
    @Test func aDumbTerminalIsRefusedInOneLine() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let tmux = try Tmux(
            command: "env TERM=dumb '\(executable)' --db '\(database.path)'; echo EXITED:$?; exec sleep 600", width: 200,
            height: 10)
        defer { tmux.kill() }
        try await tmux.waitFor("EXITED:1")
        let lines = tmux.capture().split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first?.hasPrefix("hooktop: TERM=dumb cannot move the cursor") == true, "\(lines)")
    }

    /// Without a UTF-8 locale, help spells its arrows and dots in ASCII instead of showing `?`.
    @Test func helpWithoutUTF8HasNoQuestionMarkGlyphs() async throws {
        let fixture = try await DemoFixture.make()
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let tmux = try Tmux(
            command: "env LANG=C LC_ALL=C '\(executable)' --db '\(fixture.database)'; echo EXITED:$?; exec sleep 600",
            width: 100, height: 40)
        defer { tmux.kill() }
        try await tmux.waitFor("1 Endpoints", "Acme billing")
        tmux.send("?")
        try await tmux.waitFor("this help")
        let screen = tmux.capture()
        #expect(screen.contains("j k Up Down"), "\(screen)")
        for line in screen.split(separator: "\n") where line.contains("?") {
            // The only question marks are the `?` key itself.
            #expect(line.contains("this help") || line.contains("? help") || line.contains("? close"), "a ? glyph: \(line)")
        }
        tmux.send("Escape", "4")
        try await tmux.waitFor(describing: "the retry queue's rows") { $0.contains("ATTEMPT") && tmux.tableRows().count > 1 }
        tmux.send("x")
        try await tmux.waitFor("Cancel the pending retry")
        for line in tmux.capture().split(separator: "\n") where line.contains("?") {
            #expect(line.contains("Cancel the pending retry") || line.contains("attempt") || line.contains("? help"),
                    "a ? glyph: \(line)")
        }
        #expect(tmux.capture().contains("->"))
    }

    /// A message id pasted into `/` finds its deliveries even when they are far older than the loaded page.
    @Test func aPastedMessageIdOlderThanThePageIsFound() async throws {
        let database = try TemporaryDatabase()
        _ = try database.store.addEndpoint(
            url: "http://127.0.0.1:9/a", changes: EndpointChanges(description: "Old sink"), allowPrivateDestination: true,
            by: testActor)
        let oldest = try database.store.publish(eventType: "invoice.paid", payload: "{}").message
        for _ in 0..<400 { _ = try database.store.publish(eventType: "order.created", payload: "{}") }
        let delivery = try #require(try database.store.deliveries(DeliveryQuery(messageId: oldest.id)).first)
        let tmux = try Tmux(dashboardOn: database.path)
        defer { tmux.kill() }
        try await tmux.waitFor("Old sink")
        tmux.send("2")
        try await tmux.waitFor("order.created")
        #expect(!tmux.capture().contains("invoice.paid"))
        tmux.send("/")
        try await tmux.waitFor("Enter apply")
        tmux.type(oldest.id)
        tmux.send("Enter")
        try await tmux.waitFor(describing: "the old delivery") { screen in
            screen.contains("invoice.paid") && !screen.contains("order.created") && !screen.contains("loading")
        }
        let rows = tmux.tableRows()
        #expect(rows.count == 1, "\(rows)")
        #expect(rows.first?.hasSuffix(" \(delivery.id)") == true, "\(rows)")
    }

    @Test func quitsAndRestoresTheTerminal() async throws {
        let fixture = try await DemoFixture.make()
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("Acme billing")
        #expect(tmux.display("#{alternate_on}") == "1")
        tmux.send("q")
        try await tmux.waitFor("EXITED:0")
        let screen = tmux.capture()
        #expect(!screen.contains("1 Endpoints"), "the dashboard's screen is still there:\n\(screen)")
        #expect(tmux.display("#{alternate_on}") == "0")
        #expect(tmux.display("#{cursor_flag}") == "1")
    }

    @Test func ctrlCQuitsToo() async throws {
        let fixture = try await DemoFixture.make()
        let tmux = try Tmux(dashboardOn: fixture.database)
        defer { tmux.kill() }
        try await tmux.waitFor("Acme billing")
        tmux.send("C-c")
        try await tmux.waitFor("EXITED:0")
        #expect(tmux.display("#{alternate_on}") == "0")
    }

    @Test func hostileResponseBodyNeverReachesTheTerminal() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/hooktop.db"
        let hostile = "\u{1b}]0;owned\u{07}\u{1b}[2J"
        let server = try HostileServer(status: 502, body: hostile + " bad gateway")
        defer { server.stop() }
        do {
            let store = try Store(path: path)
            let endpoint = try store.addEndpoint(
                url: "http://127.0.0.1:\(server.port)/hook",
                changes: EndpointChanges(description: "Hostile receiver", timeoutMilliseconds: 3000),
                allowPrivateDestination: true, by: testActor)
            _ = try store.publish(eventType: "invoice.paid", payload: #"{"amount":42}"#)
            let delivery = try #require(try store.deliveries(DeliveryQuery(endpointId: endpoint.id)).first)
            // No dispatcher: the operations send it from here and record the attempt with the response body.
            let sender = WebhookSender()
            let outcome = try await Operations(store: store, sender: sender).redeliver(
                deliveryId: delivery.id, by: testActor)
            await sender.shutdown()
            guard case .performed(let attempt) = outcome else {
                Issue.record("expected the redelivery to be performed here, got \(outcome)")
                return
            }
            #expect(attempt.responseStatus == 502)
            #expect(attempt.responseBodyExcerpt?.contains("owned") == true)
        }
        let tmux = try Tmux(dashboardOn: path)
        defer { tmux.kill() }
        try await tmux.waitFor("Hostile receiver")
        let title = tmux.display("#{pane_title}")
        tmux.send("2")
        // The deliveries list itself has the row (the endpoints list shows the 502 too), loaded and selectable.
        try await tmux.waitFor(describing: "the delivery row") { screen in
            screen.contains("RESULT") && !screen.contains("loading")
                && tmux.tableRows().contains { $0.contains("retrying") && $0.contains("502") }
        }
        tmux.send("Enter")
        try await tmux.waitFor("Delivery #", "ATTEMPTS")
        tmux.send("G")  // scroll to the end, where the response body is
        try await tmux.waitFor("RESPONSE", "bad gateway")
        let screen = tmux.capture()
        // The escapes are shown as ^[ (the sequences dropped), and the screen was not cleared by them.
        #expect(screen.contains("^[^[ bad gateway"))
        #expect(screen.contains("hooktop.db"))
        #expect(tmux.display("#{pane_title}") != "owned")
        #expect(tmux.display("#{pane_title}") == title)
    }
}

// MARK: - Fixtures

/// A temporary folder, removed when released.
private final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A database with deliveries in every state, from `hooktop demo --headless` (run once per test process; each test
/// gets its own copy in its own folder).
private struct DemoFixture {
    let directory: TemporaryDirectory
    var database: String { directory.path + "/hooktop.db" }

    private static let template = Mutex<Task<String, any Error>?>(nil)

    static func make() async throws -> DemoFixture {
        let task = template.withLock { task in
            if let task { return task }
            // The demo runs for seconds: waited for on a thread of its own, not one of the pool's.
            let made = Task { try await offThePool { try runDemo() } }
            task = made
            return made
        }
        let source = try await task.value
        let directory = try TemporaryDirectory()
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: source + suffix) {
            try FileManager.default.copyItem(atPath: source + suffix, toPath: directory.path + "/hooktop.db" + suffix)
        }
        return DemoFixture(directory: directory)
    }

    /// Runs `hooktop demo --headless --duration 6 --rate 20` into a new folder (left for the test process to reuse).
    private static func runDemo() throws -> String {
        let executable = try #require(hooktopExecutable(), "the hooktop executable is not built (swift build)")
        // One template per test process, named by pid; templates of processes that are gone are removed here.
        let temporary = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        where name.hasPrefix("hooktop-e2e-demo-") {
            if let pid = Int32(name.dropFirst("hooktop-e2e-demo-".count)), pid != getpid(), kill(pid, 0) != 0 {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
        let folder = temporary.appendingPathComponent("hooktop-e2e-demo-\(getpid())").path
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/hooktop.db"
        let result = try run(executable, ["demo", "--headless", "--duration", "6", "--rate", "20", "--db", path], timeout: 90)
        guard result.status == 0 else {
            throw E2EError("hooktop demo --headless failed (\(result.status)): \(result.output)")
        }
        return path
    }
}

private struct E2EError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion (bounded), returning its exit status and combined output.
///
/// `posix_spawn` with an empty signal mask and default handlers, not `Foundation.Process`: the test runner blocks
/// most signals, a child inherits that mask, and a tmux server (or a dashboard in it) that cannot receive SIGTERM,
/// SIGHUP or SIGCHLD never exits. Waiting is `waitpid`, which needs no dispatch queue.
@discardableResult
private func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 10) throws -> (
    status: Int32, output: String
) {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-e2e-\(UUID().uuidString).out").path
    defer { try? FileManager.default.removeItem(atPath: output) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard spawned == 0 else { throw E2EError("cannot run \(executable): \(String(cString: strerror(spawned)))") }
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while true {
        let done = waitpid(pid, &status, WNOHANG)
        if done == pid { break }
        if done < 0 { throw E2EError("waitpid failed for \(executable)") }
        if Date() > deadline {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            throw E2EError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s")
        }
        usleep(2_000)
    }
    let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    // WIFEXITED / WEXITSTATUS are macros: exited normally when the low 7 bits are 0.
    let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exitStatus, text)
}

// MARK: - tmux

/// One private tmux server with one session running a command at a fixed size.
private final class Tmux: Sendable {
    let socket: String
    let session = "e2e"
    let binary: String

    /// The tmux binary on `PATH`, or `nil`.
    static let path: String? = {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return (directories + ["/usr/bin", "/usr/local/bin"]).map { "\($0)/tmux" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Starts the dashboard on `database` at `width`×`height`, inside a shell that prints `EXITED:<status>` when it
    /// ends (so the pane stays and shows how it ended).
    convenience init(dashboardOn database: String, width: Int = 80, height: Int = 24) throws {
        let executable = try #require(hooktopExecutable(), "the hooktop executable is not built (swift build)")
        try self.init(
            command: "'\(executable)' --db '\(database)'; echo EXITED:$?; exec sleep 600", width: width, height: height)
    }

    init(command: String, width: Int, height: Int) throws {
        guard let binary = Self.path else {
            throw E2EError("tmux is not installed: these tests drive the dashboard through it (apt-get install tmux; .ci/run installs it)")
        }
        self.binary = binary
        socket = "hooktop-e2e-\(UUID().uuidString.prefix(8))"
        let result = try run(
            binary,
            [
                "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)",
                "-e", "LANG=C.UTF-8", "-e", "NO_COLOR=", command,
            ])
        guard result.status == 0 else { throw E2EError("tmux new-session failed: \(result.output)") }
    }

    @discardableResult
    private func tmux(_ arguments: [String]) -> String {
        (try? run(binary, ["-L", socket] + arguments).output) ?? ""
    }

    /// The visible pane, as text.
    func capture() -> String { tmux(["capture-pane", "-p", "-t", session]) }

    /// Sends tmux key names (`Enter`, `Escape`, `C-c`, `j`).
    func send(_ keys: String...) { tmux(["send-keys", "-t", session] + keys) }

    /// Types `text` literally.
    func type(_ text: String) { tmux(["send-keys", "-t", session, "-l", text]) }

    func resize(width: Int, height: Int) {
        tmux(["resize-window", "-t", session, "-x", "\(width)", "-y", "\(height)"])
    }

    /// A tmux format evaluated for the pane (`#{pane_title}`).
    func display(_ format: String) -> String {
        tmux(["display-message", "-p", "-t", session, format]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The list rows on screen: the lines between the column titles and the footer that have content.
    func tableRows() -> [String] {
        var lines = capture().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard lines.count > 6 else { return [] }
        return lines[4..<(lines.count - 2)].filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// Waits until every one of `texts` is on screen.
    func waitFor(
        _ texts: String..., timeout: TimeInterval = 10, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await waitFor(texts, timeout: timeout, sourceLocation: sourceLocation)
    }

    func waitFor(
        _ texts: [String], timeout: TimeInterval = 10, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await waitFor(timeout: timeout, describing: texts.joined(separator: ", "), sourceLocation: sourceLocation) {
            screen in texts.allSatisfy { screen.contains($0) }
        }
    }

    /// Polls the pane every 50 ms until `condition` holds, failing with the last screen after `timeout`.
    func waitFor(
        timeout: TimeInterval = 10, describing: String = "the condition",
        sourceLocation: SourceLocation = #_sourceLocation, _ condition: (String) -> Bool
    ) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        var screen = capture()
        while !condition(screen) {
            guard Date() < deadline else {
                Issue.record(
                    "waited \(Int(timeout)) s for \(describing); the screen:\n\(screen)", sourceLocation: sourceLocation)
                throw E2EError("timed out waiting for \(describing)")
            }
            try await Task.sleep(for: .milliseconds(50))
            screen = capture()
        }
    }

    /// Stops the tmux server (and the programs in it) and removes its socket file.
    func kill() {
        let socketPath = display("#{socket_path}")
        tmux(["kill-server"])
        if socketPath.hasSuffix("/" + socket) { try? FileManager.default.removeItem(atPath: socketPath) }
    }
}

// MARK: - A receiver that answers with a hostile body

/// A one-thread HTTP server on 127.0.0.1 that answers every request with `status` and `body`, byte for byte.
///
/// `@unchecked Sendable`: `fd` and `port` are set once in `init`; the accept thread only reads them.
private final class HostileServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init(status: Int, body: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw E2EError("socket failed") }
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw E2EError("bind/listen failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let payload = Array(body.utf8)
        let head = "HTTP/1.1 \(status) Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: \(payload.count)\r\n"
            + "Connection: close\r\n\r\n"
        let response = Array(head.utf8) + payload
        let listener = fd
        let thread = Thread {
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                Self.readRequest(client)
                _ = response.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                shutdown(client, Int32(SHUT_WR))
                close(client)
            }
        }
        thread.start()
    }

    /// Reads the headers and as many body bytes as `Content-Length` says.
    private static func readRequest(_ client: Int32) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            data += buffer[0..<n]
            let text = String(decoding: data, as: UTF8.self)
            guard let end = text.range(of: "\r\n\r\n") else { continue }
            let headerBytes = text[..<end.upperBound].utf8.count
            let length =
                text[..<end.lowerBound].split(separator: "\r\n")
                .first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            if data.count >= headerBytes + length { return }
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

// MARK: - The live log while `hooktop serve` delivers

/// The dashboard over a log that `hooktop serve` is filling: following keeps up with the clock, and a selection made
/// by the operator holds its delivery while rows keep arriving.
@Suite(.timeLimit(.minutes(4)))
struct LiveDashboardTmuxTests {
    @Test func followsTheLiveLogAndHoldsTheSelectionWhileServeDelivers() async throws {
        let executable = try #require(hooktopExecutable(), "build the hooktop product first")
        let database = try TemporaryDatabase()
        let sink = try await ScriptedReceiver.start(routes: ["sink": .healthy])
        defer { Task { await sink.stop() } }
        _ = try database.store.addEndpoint(
            url: sink.url("sink"), changes: EndpointChanges(description: "Live sink"), allowPrivateDestination: true,
            by: testActor)
        let serve = try await ServeProcess.start(executable, database: database.path)
        defer { serve.child.signal(SIGKILL) }
        // A few events a second, as an application would publish them.
        let store = database.store
        let publisher = Task {
            while !Task.isCancelled {
                _ = try? store.publish(eventType: "order.created", payload: #"{"n":1}"#)
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        defer { publisher.cancel() }

        let tmux = try Tmux(dashboardOn: database.path, width: 100, height: 30)
        defer { tmux.kill() }
        try await tmux.waitFor("Live sink")
        tmux.send("2")
        try await tmux.waitFor("following", "delivered")

        // Following: for 30 s the selected top row is never more than a few seconds behind the header's clock.
        var worst = 0
        for _ in 0..<30 {
            try await Task.sleep(for: .seconds(1))
            let screen = tmux.capture()
            let lines = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let clock = try #require(Self.seconds(lines.first?.split(separator: " ").last.map(String.init)))
            let selected = try #require(lines.first { $0.hasPrefix("▌") }, "no selected row:\n\(screen)")
            #expect(lines.firstIndex(of: selected) == 4, "the selection is not the top row:\n\(screen)")
            let rowTime = try #require(Self.seconds(String(selected.dropFirst().prefix(8))), "\(selected)")
            worst = max(worst, (clock - rowTime + 86_400) % 86_400)
        }
        #expect(worst <= 5, "the top row fell \(worst) s behind the clock")

        // Moving away: the highlighted delivery stays the same for 30 s while new ones arrive and are counted.
        tmux.send("j")
        try await tmux.waitFor("PAUSED")
        let chosen = try #require(Self.selectedID(tmux.capture()))
        for _ in 0..<30 {
            try await Task.sleep(for: .seconds(1))
            #expect(Self.selectedID(tmux.capture()) == chosen)
        }
        try await tmux.waitFor(describing: "the new rows counted") { $0.contains("PAUSED +") && $0.contains(" new") }
        // `r` acts on that delivery, and the message names it.
        tmux.send("r")
        try await tmux.waitFor("#\(chosen)")
        // `f` follows again: the newest row is selected.
        tmux.send("f")
        try await tmux.waitFor("following")
        #expect(serve.child.isRunning)
    }

    /// `HH:MM:SS` as seconds of the day.
    static func seconds(_ text: String?) -> Int? {
        guard let parts = text?.split(separator: ":").compactMap({ Int($0) }), parts.count == 3 else { return nil }
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    }

    /// The id in the last column of the highlighted row.
    static func selectedID(_ screen: String) -> String? {
        screen.split(separator: "\n").first { $0.hasPrefix("▌") }?.split(separator: " ").last.map(String.init)
    }
}
