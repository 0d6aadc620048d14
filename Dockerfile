# gregor's container image: FROM scratch around the static binary, which is
# built first, outside Docker (no base image can be pulled here):
#
#   make image        # = CGO_ENABLED=0 go build -o bin/gregor ./cmd/gregor
#                     #   docker build -t gregor:latest .
#
# The image runs `gregor standalone`. Its defaults (cmd/gregor/container.yaml:
# Kafka on :9092 advertised as localhost:9092, data in /var/lib/gregor, HTTP
# on :8080, JSON logs) are the lowest-precedence settings, so the KAFKA_*
# variables of an apache/kafka compose file override them.
FROM scratch
LABEL org.opencontainers.image.title=gregor \
      org.opencontainers.image.description="Kafka-protocol message broker built like MetaQ / RocketMQ"
COPY bin/gregor /gregor
COPY cmd/gregor/container.yaml /etc/gregor/gregor.yaml
ENV GREGOR_CONFIG=/etc/gregor/gregor.yaml
VOLUME /var/lib/gregor
EXPOSE 9092 8080
# No shell in the image: the binary checks itself (ApiVersions on the first
# listener, then /readyz), reading the same environment as the broker.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 CMD ["/gregor", "healthcheck"]
ENTRYPOINT ["/gregor"]
CMD ["standalone"]
