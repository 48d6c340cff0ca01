import Foundation

/// AWS Signature Version 4 for one request, header style (the
/// `Authorization` header), as documented in the AWS General Reference and
/// checked against AWS's published test-suite vectors in the tests.
public struct SigV4: Sendable {
    public var accessKeyID: String
    var secretAccessKey: String
    public var region: String
    public var service: String

    public init(accessKeyID: String, secretAccessKey: String, region: String, service: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// The pieces of a signature, exposed for tests.
    public struct Signed: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// The value of the `Authorization` header.
        public var authorization: String
        /// `YYYYMMDD'T'HHMMSS'Z'`, the `X-Amz-Date` header that must be sent.
        public var amzDate: String
    }

    /// Signs a request.
    /// - Parameters:
    ///   - path: the decoded path (`/v2/email/outbound-emails`); it is URI-encoded here.
    ///   - query: decoded name/value pairs.
    ///   - headers: the headers to sign (must include `host`); `x-amz-date` is added.
    public func sign(
        method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
        payload: [UInt8], date: Date
    ) -> Signed {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        var all = headers.map { (name: $0.0.lowercased(), value: Self.trimHeaderValue($0.1)) }
        all.append((name: "x-amz-date", value: amzDate))
        // Several headers of one name are joined with commas, in order.
        var merged: [String: [String]] = [:]
        for header in all { merged[header.name, default: []].append(header.value) }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let encodedQuery: [(name: String, value: String)] = query.map { (Self.encode($0.0), Self.encode($0.1)) }
        let sortedQuery = encodedQuery.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        let canonicalQuery = sortedQuery.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
        let segments: [String] = path.split(separator: "/", omittingEmptySubsequences: false).map { Self.encode(String($0)) }
        let canonicalPath = path.isEmpty ? "/" : segments.joined(separator: "/")
        let payloadHash = Self.hex(LibCrypto.sha256(payload))
        let canonicalRequest = [method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(LibCrypto.sha256(canonicalRequest))]
            .joined(separator: "\n")
        var key = LibCrypto.hmacSHA256(key: Array(("AWS4" + secretAccessKey).utf8), data: Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = LibCrypto.hmacSHA256(key: key, data: Array(part.utf8)) }
        let signature = Self.hex(LibCrypto.hmacSHA256(key: key, data: Array(stringToSign.utf8)))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signed(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            authorization: authorization, amzDate: amzDate)
    }

    static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Trims and collapses runs of spaces, as the canonical headers require.
    static func trimHeaderValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    static func hex(_ bytes: [UInt8]) -> String { Digest.hex(bytes) }
}
