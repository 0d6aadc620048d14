# gregor's container image: FROM scratch around the static binary, built
# outside Docker first (no base image can be pulled here):
#
#   make image        # = bash scripts/build-image.sh gregor:latest
#
# The image runs `gregor standalone`. Its defaults (cmd/gregor/container.yaml:
# Kafka on :9092 advertised as localhost:9092, data in /var/lib/gregor, HTTP
# on :8080, JSON logs) are the lowest-precedence settings, so the KAFKA_*
# variables of an apache/kafka or confluentinc/cp-kafka compose file and the
# KAFKA_CFG_* ones of a bitnami/kafka file override them; with the data
# volume those files mount at /var/lib/kafka/data or /bitnami, the data goes
# there (cmd/gregor/conventions.go).
#
# Beside the binary: Debian's static bash as /bin/sh and /bin/bash and
# static busybox for the usual shell tools (its own sh would run its nc
# applet before PATH), so the CMD-SHELL healthchecks of those compose files
# run; and the Kafka tools they call (kafka-topics.sh,
# kafka-broker-api-versions.sh, kafka-cluster.sh, Confluent's kafka-topics
# and cub, nc -z) linked to the gregor binary, which serves the subset of
# each that healthchecks use when started under its name
# (cmd/gregor/kafkatools.go), at the paths of each image and on PATH.
FROM scratch
LABEL org.opencontainers.image.title=gregor \
      org.opencontainers.image.description="Kafka-protocol message broker built like MetaQ / RocketMQ"
COPY bin/gregor /gregor
COPY bin/busybox /bin/busybox
COPY bin/bash /bin/bash
COPY cmd/gregor/container.yaml /etc/gregor/gregor.yaml
RUN ["/bin/busybox", "sh", "-euc", "\
    /bin/busybox --install -s /bin; \
    mkdir -p /tmp /usr/bin /usr/local/bin /opt/kafka/bin /opt/bitnami/kafka/bin /var/lib/gregor; \
    chmod 1777 /tmp; \
    for t in kafka-topics kafka-broker-api-versions kafka-cluster; do \
        ln -s /gregor /usr/local/bin/$t.sh; ln -s /gregor /usr/bin/$t; \
        ln -s /gregor /opt/kafka/bin/$t.sh; ln -s /gregor /opt/bitnami/kafka/bin/$t.sh; \
    done; \
    ln -s /gregor /usr/bin/cub; \
    ln -sf /gregor /bin/nc; ln -s /gregor /usr/local/bin/nc; \
    ln -sf /bin/bash /bin/sh"]
ENV GREGOR_CONFIG=/etc/gregor/gregor.yaml \
    GREGOR_CONTAINER=1 \
    PATH=/usr/local/bin:/usr/bin:/bin:/opt/bitnami/kafka/bin:/opt/kafka/bin
VOLUME /var/lib/gregor
EXPOSE 9092 8080
# The binary checks itself (ApiVersions on the first listener, then
# /readyz), reading the same environment as the broker. A compose file's
# own healthcheck replaces it.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 CMD ["/gregor", "healthcheck"]
ENTRYPOINT ["/gregor"]
CMD ["standalone"]
