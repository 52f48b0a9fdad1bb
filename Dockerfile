# One image for both processes (first version; the deployment issue splits and slims it).
# The base image is a build argument so the same file builds from a registry's node image or
# from a local one on a machine without a registry.
ARG NODE_IMAGE=node:24-bookworm-slim
FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/standalone/package.json apps/standalone/
RUN npm ci --omit=dev --no-audit --no-fund
COPY packages packages
COPY apps apps
USER 1000
EXPOSE 8080
# Node runs the TypeScript directly (type stripping); exec form so SIGTERM reaches Node.
# A 2 MB young generation keeps RSS per SSE watcher low (docs/benchmarks.md).
CMD ["node", "--max-semi-space-size=2", "apps/api/src/main.ts"]
