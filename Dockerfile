# One image for every mmx service; the compose file picks the service with `mmx service NAME`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml ./
COPY libs ./libs
COPY services ./services
RUN pip install . \
    && useradd --system --create-home --uid 10001 mmx

USER mmx
EXPOSE 8080 8090 9101 9102 9103
ENTRYPOINT ["mmx"]
CMD ["service", "gateway", "--host", "0.0.0.0"]
