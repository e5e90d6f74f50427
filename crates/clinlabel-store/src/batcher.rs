//! Serving concurrent requests of one kind together.
//!
//! A [`Batcher`] is a queue and one task that takes every request waiting in
//! it (up to a maximum) and serves them with one call of its batch function.
//! A request that arrives while a batch is being served waits for the next
//! one, so batches grow with the load and a lone request is served at once.
//! The routing dispatcher (`crate::routing`) and the submission writer
//! (`crate::tasks::submit`) are batchers: each statement they run serves the
//! whole batch, where serving requests one by one costs a statement each.
//!
//! invariant: when a batch fails as a whole, each of its requests is served
//! again alone, so one request's failure never becomes another's.

use crate::StoreError;
use futures::future::BoxFuture;
use std::sync::Arc;

type Reply<O> = tokio::sync::oneshot::Sender<Result<O, StoreError>>;

/// The batch function: one answer per request, in order, or a failure of
/// the whole batch.
pub(crate) type BatchFn<I, O> = Arc<dyn Fn(Vec<I>) -> BoxFuture<'static, Result<Vec<Result<O, StoreError>>, StoreError>> + Send + Sync>;

pub(crate) struct Batcher<I, O> {
    send: tokio::sync::mpsc::UnboundedSender<(I, Reply<O>)>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Batcher { send: self.send.clone() }
    }
}

impl<I: Clone + Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the serving task; it ends when every clone of the batcher is dropped.
    pub(crate) fn start(max: usize, serve: BatchFn<I, O>) -> Self {
        let (send, mut recv) = tokio::sync::mpsc::unbounded_channel::<(I, Reply<O>)>();
        tokio::spawn(async move {
            while let Some(first) = recv.recv().await {
                let mut batch = vec![first];
                while batch.len() < max {
                    match recv.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let (requests, replies): (Vec<I>, Vec<Reply<O>>) = batch.into_iter().unzip();
                let n = requests.len();
                match serve(requests.clone()).await {
                    Ok(answers) if answers.len() == n => {
                        for (reply, answer) in replies.into_iter().zip(answers) {
                            let _ = reply.send(answer);
                        }
                    }
                    Ok(answers) => {
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Internal(format!("a batch of {n} got {} answers", answers.len()))));
                        }
                    }
                    Err(e) if n > 1 => {
                        tracing::warn!(error = %e, requests = n, "a batch failed; serving its requests one by one");
                        for (request, reply) in requests.into_iter().zip(replies) {
                            let answer = match serve(vec![request]).await {
                                Ok(mut a) if a.len() == 1 => a.remove(0),
                                Ok(_) => Err(StoreError::Internal("a batch of one got another number of answers".into())),
                                Err(e) => Err(e),
                            };
                            let _ = reply.send(answer);
                        }
                    }
                    Err(e) => {
                        if let Some(reply) = replies.into_iter().next() {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
        });
        Batcher { send }
    }

    /// Queues a request and waits for its answer.
    pub(crate) async fn call(&self, request: I) -> Result<O, StoreError> {
        let answer = self.enqueue(request)?;
        answer.await.unwrap_or_else(|_| Err(StoreError::Internal("a batcher stopped".into())))
    }

    fn enqueue(&self, request: I) -> Result<tokio::sync::oneshot::Receiver<Result<O, StoreError>>, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send.send((request, reply)).map_err(|_| StoreError::Internal("a batcher stopped".into()))?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Requests that wait together are served together; a batch that fails
    /// is served again one by one, and only the bad request fails.
    #[tokio::test]
    async fn waiting_requests_share_a_batch_and_failures_stay_their_own() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let serve: BatchFn<i64, i64> = {
            let (sizes, started, gate) = (sizes.clone(), started.clone(), gate.clone());
            Arc::new(move |batch: Vec<i64>| {
                let (sizes, started, gate) = (sizes.clone(), started.clone(), gate.clone());
                Box::pin(async move {
                    sizes.lock().unwrap().push(batch.len());
                    if batch == [0] {
                        // The first batch is held until the others are queued.
                        started.notify_one();
                        gate.acquire().await.unwrap().forget();
                    }
                    if batch.len() > 1 && batch.contains(&13) {
                        return Err(StoreError::Internal("13 spoils the batch".into()));
                    }
                    Ok(batch.into_iter().map(|n| if n == 13 { Err(StoreError::Internal("13".into())) } else { Ok(n * 2) }).collect())
                })
            })
        };
        let b = Batcher::start(64, serve);
        let first = b.enqueue(0).unwrap();
        started.notified().await;
        let rest: Vec<_> = (1..=20).map(|n| (n, b.enqueue(n).unwrap())).collect();
        gate.add_permits(1);
        assert_eq!(first.await.unwrap().unwrap(), 0);
        for (n, answer) in rest {
            let r = answer.await.unwrap();
            match n {
                13 => assert!(matches!(r, Err(StoreError::Internal(ref m)) if m == "13"), "{r:?}"),
                _ => assert_eq!(r.unwrap(), n * 2),
            }
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(&sizes[..2], &[1, 20], "the waiting requests were served together, then one by one: {sizes:?}");
        assert_eq!(sizes.len(), 22);
    }
}
