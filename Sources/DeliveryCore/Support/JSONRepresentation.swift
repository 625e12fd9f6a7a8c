import Foundation

/// How the CLI (`--json`) and the HTTP API write their typed objects (`EndpointObject`, `DeliveryObject`, ...): one
/// encoder configuration for both, keys sorted so answers compare and diff stably.
public enum JSONRepresentation {
    static let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// A time as the API and `--json` write it: ISO 8601 with milliseconds.
    public static func timestamp(_ date: Date) -> String { iso.format(date) }

    /// `value` as JSON bytes: sorted keys, slashes unescaped, pretty when asked.
    public static func data(_ value: some Encodable, pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// `value` as JSON text (see `data(_:pretty:)`).
    public static func encode(_ value: some Encodable, pretty: Bool = false) throws -> String {
        String(decoding: try data(value, pretty: pretty), as: UTF8.self)
    }
}
