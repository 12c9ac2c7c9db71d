// Prometheus metrics of the runtime, named after controller-runtime's so dashboards carry over.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileDuration: Histogram<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly queueDepth: Gauge<'name'>;
  readonly queueLatency: Histogram<'name'>;
  readonly queueRetries: Counter<'name'>;
  readonly informerRestarts: Counter<'resource' | 'reason'>;
  readonly informerEvents: Counter<'resource' | 'type'>;
  readonly leader: Gauge<'name'>;
  readonly restRequests: Counter<'method' | 'code'>;

  constructor(opts: { registry?: Registry; processMetrics?: boolean } = {}) {
    const r = (this.registry = opts.registry ?? new Registry());
    if (opts.processMetrics) collectDefaultMetrics({ register: r });
    const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciles per controller and result (success, error, requeue_after, terminal_error).',
      labelNames: ['controller', 'result'],
      registers: [r],
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconcile errors per controller.',
      labelNames: ['controller'],
      registers: [r],
    });
    this.reconcileDuration = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Reconcile duration per controller.',
      labelNames: ['controller'],
      buckets,
      registers: [r],
    });
    this.activeWorkers = new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Workers running a reconcile, per controller.',
      labelNames: ['controller'],
      registers: [r],
    });
    this.queueDepth = new Gauge({
      name: 'workqueue_depth',
      help: 'Keys ready in the queue.',
      labelNames: ['name'],
      registers: [r],
    });
    this.queueLatency = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'Time a key waits in the queue before a worker takes it.',
      labelNames: ['name'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
      registers: [r],
    });
    this.queueRetries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Rate-limited re-adds.',
      labelNames: ['name'],
      registers: [r],
    });
    this.informerRestarts = new Counter({
      name: 'capk_podnet_informer_restarts_total',
      help: 'Informer list/watch restarts by reason (error, gone, silence).',
      labelNames: ['resource', 'reason'],
      registers: [r],
    });
    this.informerEvents = new Counter({
      name: 'capk_podnet_informer_events_total',
      help: 'Events delivered by informers.',
      labelNames: ['resource', 'type'],
      registers: [r],
    });
    this.leader = new Gauge({
      name: 'leader_election_master_status',
      help: '1 while this process holds the lease.',
      labelNames: ['name'],
      registers: [r],
    });
    this.restRequests = new Counter({
      name: 'rest_client_requests_total',
      help: 'Requests to the API server by method (WATCH for watch streams) and HTTP status.',
      labelNames: ['method', 'code'],
      registers: [r],
    });
  }
}
