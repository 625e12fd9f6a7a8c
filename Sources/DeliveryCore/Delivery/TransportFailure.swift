import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// What went wrong below HTTP, read from the error values the client stack throws (never from their messages).
enum TransportFailure {
    /// The message of a TLS handshake that failed (before the sender's diagnosis says why).
    static let handshakeFailed = "tls: handshake failed"

    /// An error class and a one-line message for `error`.
    static func classify(_ error: any Error) -> (ErrorClass, String) {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: return (.timeout, "connect timed out")
            case .deadlineExceeded, .readTimeout, .writeTimeout: return (.timeout, "no response within the timeout")
            case .tlsHandshakeTimeout: return (.tls, "TLS handshake timed out")
            case .remoteConnectionClosed: return (.network, "connection closed by the receiver")
            case .invalidURL, .emptyHost, .emptyScheme: return (.invalidURL, "invalid URL")
            default: return (.network, "\(error)".prefix(200).description)
            }
        case let error as NIOConnectionError:
            if error.dnsAError != nil || error.dnsAAAAError != nil, error.connectionErrors.isEmpty {
                return (.dns, "cannot resolve host")
            }
            // Every address failed: the first failure says why (they are alike in practice).
            if let first = error.connectionErrors.first { return classify(first.error) }
            return (.network, "cannot connect to \(error.host):\(error.port)")
        case let error as IOError:
            return classify(errno: error.errnoCode)
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return (.timeout, "connect timed out")
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed:
                return (.network, "connection closed by the receiver")
            default: return (.network, "\(error)".prefix(200).description)
            }
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return (.tlsHostnameMismatch, "tls: certificate does not name the host")
        case let error as NIOSSLError where error == .uncleanShutdown:
            return (.network, "connection closed by the receiver (without a TLS close)")
        case is NIOSSLError, is BoringSSLError:
            // BoringSSL's own text names source files and error numbers; after an https failure the sender finds out
            // what was wrong with the certificate (TLSDiagnosis).
            return (.tls, handshakeFailed)
        case let error as SocketAddressError:
            return (.dns, "cannot resolve host (\(error))".prefix(200).description)
        default:
            return (.network, "\(error)".prefix(200).description)
        }
    }

    /// The class of a failed system call.
    static func classify(errno code: Int32) -> (ErrorClass, String) {
        switch code {
        case ECONNREFUSED: return (.connectRefused, "connection refused")
        case ETIMEDOUT: return (.timeout, "connect timed out")
        case ECONNRESET: return (.network, "connection reset by the receiver")
        case EPIPE: return (.network, "connection closed by the receiver")
        case ENETUNREACH, EHOSTUNREACH: return (.network, "no route to host")
        default: return (.network, String(cString: strerror(code)))
        }
    }
}

/// Whether a listener failed because its address is taken (read from the error value: `EADDRINUSE`).
public func isAddressInUse(_ error: any Error) -> Bool {
    if let error = error as? IOError { return error.errnoCode == EADDRINUSE }
    return false
}
