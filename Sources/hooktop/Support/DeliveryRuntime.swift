import DeliveryCore
import Foundation
import Logging

/// The sender, dispatcher and operations that `serve` runs over one engine.
struct DeliveryRuntime: Sendable {
    let engine: any DeliveryEngine
    let sender: WebhookSender
    let dispatcher: Dispatcher
    let operations: Operations

    init(
        engine: any DeliveryEngine, allowPrivateDestinations: Bool, configuration: Dispatcher.Configuration,
        sender senderConfiguration: WebhookSender.Configuration = WebhookSender.Configuration(),
        maxPayloadBytes: Int = PublishLimits.defaultMaxPayloadBytes, logger: Logger
    ) {
        var senderConfiguration = senderConfiguration
        senderConfiguration.allowPrivateDestinations = allowPrivateDestinations
        self.engine = engine
        self.sender = WebhookSender(configuration: senderConfiguration)
        let dispatcher = Dispatcher(log: engine, sender: sender, configuration: configuration, logger: logger)
        self.dispatcher = dispatcher
        self.operations = Operations(
            engine: engine, sender: sender, retryPolicy: configuration.retryPolicy, maxPayloadBytes: maxPayloadBytes,
            wake: { dispatcher.wake() })
    }

    func shutdown() async {
        await sender.shutdown()
        await engine.close()
    }
}
