# syntax=docker/dockerfile:1

# Stage 1: compile the server into one self-contained executable (migrations and the
# Swagger UI assets are embedded), with the same Bun as package.json pins.
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml ./
# Runtime dependencies only, exactly as locked (Bun reads package-lock.json).
RUN bun install --frozen-lockfile --production
COPY tsconfig.json ./
COPY src ./src
COPY drizzle ./drizzle
RUN bun run build

# Stage 2: just the binary, run as an unprivileged user.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 bunchat \
 && useradd --system --uid 10001 --gid bunchat --home-dir /app --no-create-home --shell /usr/sbin/nologin bunchat \
 && mkdir -p /app/data/files \
 && chown -R bunchat:bunchat /app/data
COPY --from=build /src/dist/bunchat /usr/local/bin/bunchat
WORKDIR /app
USER bunchat:bunchat
# Production needs JWT_SECRET (docker run -e JWT_SECRET=…); everything else has a default.
# The first server admin: -e ADMIN_USERNAME=… -e ADMIN_PASSWORD=… [-e ADMIN_EMAIL=…] makes sure
# that account exists and is an admin at every start (an existing account keeps its password),
# or later: docker exec -i <container> bunchat admin create <username> < password-file
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:///app/data/chat.db \
    STORAGE_URL=file:///app/data/files
VOLUME ["/app/data"]
EXPOSE 3000
# The binary asks its own /ready (the slim image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/bunchat", "--healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/bunchat"]
