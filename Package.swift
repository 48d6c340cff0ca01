// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "listctl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "listctl", targets: ["listctl"]),
        .library(name: "ListService", targets: ["ListService"]),
        .library(name: "Mailer", targets: ["Mailer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CCmarkGFM", pkgConfig: "libcmark-gfm",
            providers: [.apt(["libcmark-gfm-dev", "libcmark-gfm-extensions-dev"])]
        ),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),

        // Swift layer over libpq: the only place that touches libpq pointers.
        .target(
            name: "Postgres",
            dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Applies sql/migrations/*.sql, which the plugin embeds into the binary.
        .target(
            name: "Migrations",
            dependencies: ["Postgres", "COpenSSL", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings,
            plugins: ["EmbedMigrationsPlugin"]
        ),
        .executableTarget(name: "EmbedSQL", swiftSettings: swiftSettings),
        .plugin(name: "EmbedMigrationsPlugin", capability: .buildTool(), dependencies: ["EmbedSQL"]),

        // Markdown -> HTML/text, splitting, MIME, DKIM, transports. Knows nothing of PostgreSQL.
        .target(
            name: "Mailer",
            dependencies: [
                "CCmarkGFM", "CCurl", "COpenSSL", "CLibXML2",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: swiftSettings
        ),
        // Store, import, delivery engine, scheduling, HTTP service.
        .target(
            name: "ListService",
            dependencies: [
                "Postgres", "Migrations", "Mailer", "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: swiftSettings
        ),
        // The CLI: argument parsing, output, exit codes; no logic.
        .executableTarget(
            name: "listctl",
            dependencies: [
                "ListService", "Mailer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        .target(name: "TestSupport", dependencies: ["Postgres"], path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MigrationsTests", dependencies: ["Migrations", "Postgres", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ListctlCLITests", dependencies: ["TestSupport", .target(name: "listctl")], swiftSettings: swiftSettings),
        .testTarget(
            name: "MailerTests",
            dependencies: ["Mailer", .product(name: "PropertyBased", package: "swift-property-based")],
            exclude: ["Golden"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ListServiceTests",
            dependencies: [
                "ListService", "Postgres", "Migrations", "Mailer", "TestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
