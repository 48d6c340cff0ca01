public enum Migrator0 { static let files = embeddedMigrationFiles }
