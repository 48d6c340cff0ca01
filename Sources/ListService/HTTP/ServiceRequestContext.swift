public import Hummingbird
public import NIOCore

/// The request context of `listctl serve`: Hummingbird's basic one plus the
/// peer's address, which ``ClientAddress`` turns into the client's.
public struct ServiceRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer: the client, or the reverse proxy in front of the service.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
