//! Grafana Loki's chunk format (in progress).
