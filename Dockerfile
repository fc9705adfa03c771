FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY services ./services
COPY migrations ./migrations
RUN pip install --no-cache-dir .
RUN useradd --system --home /app communique
USER communique
ENTRYPOINT ["communique"]
