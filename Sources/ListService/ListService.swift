public enum ListServiceModule {}
