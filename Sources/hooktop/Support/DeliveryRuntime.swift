import DeliveryCore
import Foundation
import Logging

/// The sender, dispatcher and operations that `serve` and `demo` run over one store.
struct DeliveryRuntime: Sendable {
    let store: Store
    let sender: WebhookSender
    let dispatcher: Dispatcher
    let operations: Operations

    init(
        store: Store, allowPrivateDestinations: Bool, configuration: Dispatcher.Configuration,
        maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes, logger: Logger
    ) {
        var senderConfiguration = WebhookSender.Configuration()
        senderConfiguration.allowPrivateDestinations = allowPrivateDestinations
        self.store = store
        self.sender = WebhookSender(configuration: senderConfiguration)
        let dispatcher = Dispatcher(store: store, sender: sender, configuration: configuration, logger: logger)
        self.dispatcher = dispatcher
        self.operations = Operations(
            store: store, sender: sender, retryPolicy: configuration.retryPolicy, maxPayloadBytes: maxPayloadBytes,
            wake: { dispatcher.wake() })
    }

    func shutdown() async {
        await sender.shutdown()
        store.checkpoint()
    }
}
