import Foundation

/// Who performed an operator action, for the audit table.
public struct Principal: Sendable, Equatable {
    public var user: String
    public var pid: Int
    /// `cli`, `dashboard`, `api`.
    public var via: String
    /// Where the operator came from: the SSH client's address (`SSH_CONNECTION`), nil for a local session.
    public var origin: String?
    /// The terminal the action was taken on (`/dev/pts/3`), nil without one.
    public var tty: String?

    public init(user: String, pid: Int, via: String, origin: String? = nil, tty: String? = nil) {
        self.user = user
        self.pid = pid
        self.via = via
        self.origin = origin
        self.tty = tty
    }

    /// The current OS user and process.
    /// The operator of this process: the OS user by the user database (the same name from the dashboard, the CLI
    /// and the API, whatever the environment says), the SSH client's address and the terminal.
    public static func current(via: String) -> Principal {
        let origin = origin(sshConnection: ProcessInfo.processInfo.environment["SSH_CONNECTION"])
        let tty = isatty(0) != 0 ? ttyname(0).map { String(cString: $0) } : nil
        return Principal(user: osUser(), pid: Int(getpid()), via: via, origin: origin, tty: tty)
    }

    /// `ssh 10.0.0.5 port 52311` from `SSH_CONNECTION` (`client-ip client-port server-ip server-port`).
    static func origin(sshConnection text: String?) -> String? {
        guard let parts = text?.split(separator: " "), parts.count >= 2 else { return nil }
        return "ssh \(Sanitizer.line(String(parts[0]))) port \(Sanitizer.line(String(parts[1])))"
    }

    /// The effective user's name from the user database, `uid N` when it has none.
    static func osUser() -> String {
        let uid = geteuid()
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }
}
