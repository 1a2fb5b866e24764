# wechat-vision-bot: small image, runs as an unprivileged user, state on a volume.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 XDG_STATE_HOME=/state
WORKDIR /app
# Chinese labels on the drawn detections (WenQuanYi Micro Hei, 5 MB)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY labels ./labels
COPY deploy/config.docker.toml ./deploy/config.docker.toml
RUN pip install --no-cache-dir . && useradd --system --uid 10001 --home /state bot \
    && mkdir -p /state && chown bot /state && chmod 700 /state
USER bot
VOLUME ["/state"]
EXPOSE 8080
ENTRYPOINT ["wechat-vision-bot"]
CMD ["--config", "/app/deploy/config.docker.toml", "run"]
