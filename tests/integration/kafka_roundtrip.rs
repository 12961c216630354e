//! The real Kafka: a message produced (key, value, headers) is consumed back intact.

use std::time::Duration;

use meteo::kafka::{client_config, ensure_topics, TopicOutcome, TopicSpec};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::util::{kafka_settings, unique};

#[tokio::test(flavor = "multi_thread")]
async fn a_message_produced_is_consumed_back_intact() {
    let topic = unique("t");
    let settings = kafka_settings(&topic);
    let spec = TopicSpec {
        name: topic.clone(),
        partitions: 2,
        replication_factor: 1,
        configs: Vec::new(),
    };
    let outcome = ensure_topics(
        &settings,
        std::slice::from_ref(&spec),
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|e| panic!("Kafka at {} is required: {e:#}", settings.brokers));
    assert_eq!(outcome, vec![(topic.clone(), TopicOutcome::Created)]);
    let again = ensure_topics(&settings, &[spec], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![(topic.clone(), TopicOutcome::Existed { partitions: 2 })]
    );

    let producer: FutureProducer = client_config(&settings)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let value = std::fs::read(crate::util::repo().join("tests/data/reading.json")).unwrap();
    let headers = OwnedHeaders::new().insert(Header {
        key: "meteo.test",
        value: Some("é\u{0}binary"),
    });
    let delivery = producer
        .send(
            FutureRecord::to(&topic)
                .key("2988507")
                .payload(&value)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();

    let consumer: StreamConsumer = client_config(&settings)
        .set("group.id", unique("g"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("no message within 30 s")
        .unwrap();
    assert_eq!(message.key(), Some("2988507".as_bytes()));
    assert_eq!(message.payload(), Some(value.as_slice()));
    assert_eq!(
        (message.partition(), message.offset()),
        (delivery.partition, delivery.offset)
    );
    let header = message.headers().unwrap().get(0);
    assert_eq!(header.key, "meteo.test");
    assert_eq!(header.value, Some("é\u{0}binary".as_bytes()));
}
