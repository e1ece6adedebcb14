# syntax=docker/dockerfile:1
# vaultsync controller image: compile TypeScript, then run on a minimal non-root Node 24 runtime.
#
#   docker build -t vaultsync:dev .
#
# The runtime stage is distroless (no shell, no package manager) and runs as uid 65532, which the
# Helm chart's securityContext (runAsNonRoot, readOnlyRootFilesystem) expects.

ARG NODE_VERSION=24

# --- build: all dependencies, tsc -------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only -------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# --- runtime ----------------------------------------------------------------------------------
FROM gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
USER 65532:65532
# Health, metrics and (by default) the webhook: --listen=0.0.0.0:8080.
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/vaultsync.js"]
CMD ["run"]
