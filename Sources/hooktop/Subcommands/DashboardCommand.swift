import ArgumentParser
import Dashboard
import DeliveryCore
import Foundation

struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Open the operator's dashboard over the delivery log (the default command).")
    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Open the database read-only: every action is refused.") var readOnly = false
    @Flag(help: "Enable the mouse: click selects a row, the wheel scrolls.") var mouse = false
    @Option(help: "Show `overdue` in the header once due work is this late, like 30s or 5m.") var overdueAfter = "30s"

    func run() throws {
        guard let overdue = DurationText.seconds(overdueAfter), overdue > 0 else {
            fail("--overdue-after must be a duration like 30s or 5m")
        }
        let database = self.database
        let readOnly = self.readOnly
        let engine: any DeliveryEngine
        switch blockingAwait({ try await database.open(readOnly: readOnly, create: false) }) {
        case .success(let opened): engine = opened
        case .failure(let error as HooktopError): fail(error.message)
        case .failure(let error): fail("\(error)")
        }
        // Test pings (`t`) go out the way `serve` sends: through the environment's proxy, when one is set.
        var configuration = WebhookSender.Configuration()
        configuration.proxy = try? ProxySettings.fromEnvironment()
        let sender = WebhookSender(configuration: configuration)
        defer { _ = blockingAwait { await sender.shutdown() } }
        try runDashboard(engine: engine, readOnly: readOnly, mouse: mouse, sender: sender, overdueAfter: overdue)
    }
}

/// Runs the dashboard over `engine` on the calling (main) thread until the operator quits.
func runDashboard(
    engine: any DeliveryEngine, readOnly: Bool, mouse: Bool, sender: WebhookSender, overdueAfter: TimeInterval = 30,
    wake: @escaping @Sendable () -> Void = {}
) throws {
    let console = OperatorConsole(operations: Operations(engine: engine, sender: sender, wake: wake))
    var options = DashboardOptions()
    options.databaseName = URL(fileURLWithPath: engine.location).lastPathComponent
    options.readOnly = readOnly || ((engine as? SQLiteEngine)?.store.isReadOnly ?? false)
    options.mouse = mouse
    options.overdueAfter = overdueAfter
    // Beside a SQLite file; for a database elsewhere, in the temporary folder.
    options.stderrLogPath = engine is SQLiteEngine
        ? engine.location + ".dashboard.log"
        : FileManager.default.temporaryDirectory.appendingPathComponent("hooktop-dashboard.log").path
    do {
        try DashboardApp.run(log: console, options: options)
    } catch {
        fail("\(error)")
    }
}
