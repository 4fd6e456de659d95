# syntax=docker/dockerfile:1
#
# tether's container: the WebSocket ingress by default; the HTTP API runs from the same
# image with `node dist/functions/api/main.js` as its command (infra/api.ts).
#
#   docker build -t tether .            (or: gcloud builds submit --tag <image> .)
#
# Stage 1 compiles TypeScript with every dependency; stage 2 holds only production
# dependencies and the compiled output, and runs as the unprivileged `node` user.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# Files stay owned by root: the service can read its code but not change it.
USER node
EXPOSE 8080
CMD ["node", "dist/functions/ingress/main.js"]
