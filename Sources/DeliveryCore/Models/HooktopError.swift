/// An error hooktop reports to a user: a stable code and a one-line message.
public struct HooktopError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, parameter-free name for the kind of error (safe for logs, metrics and API bodies).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case notFound = "not_found"
            case invalidInput = "invalid_input"
            case conflict
            case readOnly = "read_only"
            case database
            case destinationRefused = "destination_refused"
            case storageFull = "storage_full"
            case overloaded
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let notFound = Code(.notFound)
        public static let invalidInput = Code(.invalidInput)
        public static let conflict = Code(.conflict)
        public static let readOnly = Code(.readOnly)
        public static let database = Code(.database)
        public static let destinationRefused = Code(.destinationRefused)
        /// The disk (or the database's size limit) is full: writes fail until space is freed.
        public static let storageFull = Code(.storageFull)
        /// More work is waiting than the log can take in now: try again shortly.
        public static let overloaded = Code(.overloaded)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func notFound(_ what: String, _ id: String) -> HooktopError {
        HooktopError(.notFound, "\(what) \(id) not found")
    }

    public static func invalid(_ message: String) -> HooktopError { HooktopError(.invalidInput, message) }
}
