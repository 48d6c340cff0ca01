import Foundation
import Mailer
import Testing

/// AWS's published Signature Version 4 test suite (credentials AKIDEXAMPLE,
/// region us-east-1, service "service", 2015-08-30T12:36:00Z), and a
/// cross-check against botocore for an SES-shaped request.
@Suite("SigV4")
struct SigV4Tests {
    static let signer = SigV4(
        accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1",
        service: "service")
    static let date = Date(timeIntervalSince1970: 1_440_938_160)  // 20150830T123600Z
    static let host = [("Host", "example.amazonaws.com")]

    @Test("get-vanilla")
    func getVanilla() {
        let signed = Self.signer.sign(method: "GET", path: "/", headers: Self.host, payload: [], date: Self.date)
        #expect(signed.amzDate == "20150830T123600Z")
        #expect(signed.canonicalRequest == """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test("post-vanilla")
    func postVanilla() {
        let signed = Self.signer.sign(method: "POST", path: "/", headers: Self.host, payload: [], date: Self.date)
        #expect(signed.stringToSign == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87
            """)
        #expect(signed.signature == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    }

    @Test("get-vanilla-query-order-key-case, post-vanilla-query, get-utf8")
    func moreVectors() {
        let query = Self.signer.sign(
            method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: Self.host, payload: [],
            date: Self.date)
        #expect(query.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
        let postQuery = Self.signer.sign(
            method: "POST", path: "/", query: [("Param1", "value1")], headers: Self.host, payload: [], date: Self.date)
        #expect(postQuery.signature == "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11")
        let utf8 = Self.signer.sign(method: "GET", path: "/ሴ", headers: Self.host, payload: [], date: Self.date)
        #expect(utf8.signature == "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")
    }

    @Test("an SES v2 request signs as botocore signs it")
    func botocore() throws {
        let signer = SigV4(accessKeyID: "AKIDLISTCTL", secretAccessKey: "s3cr3t/with+chars", region: "eu-west-1", service: "ses")
        let body = Array(#"{"Content":{"Raw":{"Data":"RnJvbTogYUBiDQoNCmhp"}}}"#.utf8)
        let date = Date(timeIntervalSince1970: 1_795_000_000)
        let signed = signer.sign(
            method: "POST", path: "/v2/email/outbound-emails",
            headers: [("host", "127.0.0.1:4566"), ("content-type", "application/json")], payload: body, date: date)
        let dir = try TransportTestSupport.scratchDirectory("sigv4")
        let bodyFile = dir.appendingPathComponent("body.json")
        try Data(body).write(to: bodyFile)
        let result = try TransportTestSupport.run([
            "python3", TransportTestSupport.tool("sigv4_botocore.py"), "POST", "http://127.0.0.1:4566/v2/email/outbound-emails",
            "eu-west-1", "ses", "AKIDLISTCTL", "s3cr3t/with+chars", signed.amzDate, bodyFile.path, "Content-Type:application/json",
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == signed.signature)
    }
}
