import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import DeliveryCore

/// Transport errors are classified from their values, whatever their messages say.
struct TransportFailureTests {
    /// A TLS connection closed without its close alert is a network failure, not a handshake's.
    @Test func anUncleanTLSShutdownIsANetworkFailure() {
        #expect(TransportFailure.classify(NIOSSLError.uncleanShutdown).0 == .network)
        #expect(TransportFailure.classify(NIOSSLError.handshakeFailed(.sslError([]))) == (.tls, "tls: handshake failed"))
    }

    @Test func systemCallFailuresByErrno() {
        #expect(TransportFailure.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect")).0 == .connectRefused)
        #expect(TransportFailure.classify(IOError(errnoCode: ETIMEDOUT, reason: "connect")).0 == .timeout)
        #expect(TransportFailure.classify(IOError(errnoCode: ECONNRESET, reason: "read")) == (.network, "connection reset by the receiver"))
        #expect(TransportFailure.classify(IOError(errnoCode: EHOSTUNREACH, reason: "connect")) == (.network, "no route to host"))
    }

    @Test func clientAndChannelErrors() {
        #expect(TransportFailure.classify(HTTPClientError.readTimeout).0 == .timeout)
        #expect(TransportFailure.classify(HTTPClientError.connectTimeout).0 == .timeout)
        #expect(TransportFailure.classify(HTTPClientError.remoteConnectionClosed).0 == .network)
        #expect(TransportFailure.classify(HTTPClientError.invalidURL).0 == .invalidURL)
        #expect(TransportFailure.classify(ChannelError.connectTimeout(.seconds(1))).0 == .timeout)
        #expect(TransportFailure.classify(ChannelError.eof).0 == .network)
    }

    @Test func tlsErrorsAreTLSWhateverTheirText() {
        #expect(TransportFailure.classify(NIOSSLError.handshakeFailed(.sslError([]))).0 == .tls)
        #expect(TransportFailure.classify(NIOSSLError.noCertificateToValidate).0 == .tls)
    }

    /// A message that merely mentions a class is not taken for it.
    @Test func messagesAreNotRead() {
        struct Odd: Error, CustomStringConvertible { var description: String { "connection refused by TLS certificate DNS timeout" } }
        #expect(TransportFailure.classify(Odd()).0 == .network)
    }

    @Test func addressInUseIsReadFromTheErrno() {
        #expect(isAddressInUse(IOError(errnoCode: EADDRINUSE, reason: "bind")))
        #expect(!isAddressInUse(IOError(errnoCode: EACCES, reason: "bind")))
        struct Odd: Error, CustomStringConvertible { var description: String { "Address already in use" } }
        #expect(!isAddressInUse(Odd()))
    }
}
