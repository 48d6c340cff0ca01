/// Signs each message with DKIM, then hands it to another transport.
public struct DKIMSigningTransport: MailTransport {
    public let base: any MailTransport
    public let signer: DKIMSigner

    public init(base: any MailTransport, signer: DKIMSigner) {
        self.base = base
        self.signer = signer
    }

    public var displayName: String { base.displayName + " (DKIM \(signer.key.algorithm.rawValue) d=\(signer.domain) s=\(signer.selector))" }

    public func send(_ message: OutgoingMessage) async throws(TransportError) -> TransportReceipt {
        var signed = message
        do {
            signed.data = try signer.sign(message.data)
        } catch {
            throw TransportError(code: .configuration, classification: .permanent, message: error.description)
        }
        return try await base.send(signed)
    }

    public func close() async { await base.close() }
}
