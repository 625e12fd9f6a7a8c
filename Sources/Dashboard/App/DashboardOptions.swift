import DeliveryCore
import Foundation

/// How the dashboard runs: what it shows in the header, what it may do, where stderr goes.
public struct DashboardOptions: Sendable {
    /// The database name shown in the header (a file name, not a path). Default: `hooktop.db`.
    public var databaseName: String
    /// Refuse every action with a message; the header shows `RO`. Default: `false`.
    public var readOnly: Bool
    /// Enable mouse reporting (click selects a row, wheel scrolls). Default: `false`.
    public var mouse: Bool
    /// Where stderr goes while curses owns the terminal; `nil` means `/dev/null`. Default: `nil`.
    public var stderrLogPath: String?
    /// How often the loader checks the change counter, in seconds. Default: 0.15.
    public var pollInterval: TimeInterval
    /// Rows fetched per page of a list (keyset paging). Default: 200.
    public var pageSize: Int
    /// Time zone for clock times. Default: the process time zone.
    public var timeZone: TimeZone
    /// Use colours when the terminal has them; `false` forces monochrome. Default: `true` unless `NO_COLOR` is set.
    public var colors: Bool
    /// Who the audit table records for actions. Default: the current user, via `dashboard`.
    public var actor: Principal
    /// The header shows `overdue Ns` in red once the oldest due delivery is this late, in seconds. Default: 30.
    public var overdueAfter: TimeInterval = 30

    public init(
        databaseName: String = "hooktop.db", readOnly: Bool = false, mouse: Bool = false,
        stderrLogPath: String? = nil, pollInterval: TimeInterval = 0.15, pageSize: Int = 200,
        timeZone: TimeZone = .current,
        colors: Bool = ProcessInfo.processInfo.environment["NO_COLOR"].map { $0.isEmpty } ?? true,
        actor: Principal = .current(via: "dashboard")
    ) {
        self.databaseName = databaseName
        self.readOnly = readOnly
        self.mouse = mouse
        self.stderrLogPath = stderrLogPath
        self.pollInterval = pollInterval
        self.pageSize = pageSize
        self.timeZone = timeZone
        self.colors = colors
        self.actor = actor
    }
}
