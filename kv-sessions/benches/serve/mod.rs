//! Serving a request in a benchmark, through an app made with `actix_web::test::init_service`.

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::call_service;

/// Sends `request` through `app`, and drops the response as a server does once it has sent it.
///
/// Dropping it inside the measurement counts the drop, as a server pays it, and keeps criterion
/// from holding every response of a batch, and with them actix's pooled request objects, until
/// the batch ends.
pub(crate) async fn respond<S, R, B>(app: &S, request: R)
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    drop(call_service(app, request).await);
}
