import Dashboard
import DeliveryCore
import Foundation
import Testing

/// Builders shared by the dashboard tests: a state over the fixture at a fixed clock, and key helpers.
enum Fixture {
    static let utc = TimeZone(identifier: "UTC")!

    static func options(readOnly: Bool = false) -> DashboardOptions {
        DashboardOptions(
            databaseName: "fixture.db", readOnly: readOnly, pageSize: 200, timeZone: utc, colors: false,
            actor: Principal(user: "test", pid: 1, via: "dashboard"))
    }

    /// A state over `log`, loaded, on `view`, at `width`×`height`.
    static func state(
        _ log: FixtureLog = FixtureLog(), view: ViewKind = .endpoints, width: Int = 80, height: Int = 24,
        readOnly: Bool = false, pageSize: Int = 200
    ) async -> DashboardState {
        var options = options(readOnly: readOnly)
        options.pageSize = pageSize
        var state = DashboardState(options: options, now: FixtureLog.now, width: width, height: height)
        // Endpoints first, so their statuses are known in every view (as when the dashboard opens).
        await DashboardRenderer.load(&state, from: log)
        if view != .endpoints {
            _ = state.update(.command(.switchView(view)))
            await DashboardRenderer.load(&state, from: log)
        }
        return state
    }
}

extension DashboardState {
    /// Presses keys in order, collecting the effects.
    @discardableResult
    mutating func press(_ keys: Key...) -> [Effect] {
        keys.flatMap { update(.key($0)) }
    }

    /// Types each character of `text`.
    mutating func type(_ text: String) {
        for c in text { _ = update(.key(.char(c))) }
    }

    /// Reloads from `log` (what the background loader does after a change).
    mutating func reload(from log: FixtureLog) async {
        await DashboardRenderer.load(&self, from: log)
    }

    var selectedKey: String? { selectedRow?.key }
}

/// Compares `text` with `__Snapshots__/<name>.txt`; records it (and fails, saying so) when missing or when
/// `SNAPSHOT_RECORD=1`, so a missing snapshot never passes silently.
func assertSnapshot(
    _ text: String, named name: String, filePath: String = #filePath, sourceLocation: SourceLocation = #_sourceLocation
) {
    let directory = URL(fileURLWithPath: filePath).deletingLastPathComponent()
    let folder = directory.lastPathComponent == "Support" ? directory.deletingLastPathComponent() : directory
    let url = folder.appendingPathComponent("__Snapshots__").appendingPathComponent(name + ".txt")
    let contents = text + "\n"
    let record = ProcessInfo.processInfo.environment["SNAPSHOT_RECORD"] == "1"
    if record || !FileManager.default.fileExists(atPath: url.path) {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? contents.write(to: url, atomically: true, encoding: .utf8)
        Issue.record("recorded snapshot \(name).txt; check it and run the tests again", sourceLocation: sourceLocation)
        return
    }
    let expected = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    #expect(contents == expected, "snapshot \(name) differs:\n\(contents)", sourceLocation: sourceLocation)
}
