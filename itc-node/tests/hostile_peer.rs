//! A libp2p peer that speaks the node protocol badly — oversized frames, frames that do not
//! decode, a forged peer binding, gossiped transaction batches that do not decode — is
//! disconnected and refused for a while; the 4-process cluster it attacked keeps committing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io;
use std::time::Duration;

use common::{Cluster, N};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use itc_crypto::{Encode, Hash, SecretKey};
use itc_node::config::NodeConfig;
use itc_node::wire::{NodeRequest, PeerBinding, MAX_FRAME};
use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, Multiaddr, StreamProtocol, Swarm};

/// Writes whatever bytes it is given, as they are (the test builds the "frames").
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::other("this peer serves nothing"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut b = Vec::new();
        io.take(1 << 16).read_to_end(&mut b).await?;
        Ok(b)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Ok(())
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A TCP + Noise + Yamux swarm of a fresh identity around `behaviour`.
fn swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Connects to `addr` and sends `requests` once connected; returns whether the node closed
/// the connection within `limit`.
async fn attack(addr: Multiaddr, requests: Vec<Vec<u8>>, limit: Duration) -> bool {
    let behaviour = request_response::Behaviour::with_codec(
        RawCodec,
        [(StreamProtocol::new("/itc/node/1"), ProtocolSupport::Full)],
        request_response::Config::default(),
    );
    let mut swarm = swarm(behaviour);
    swarm.dial(addr).unwrap();
    let deadline = tokio::time::Instant::now() + limit;
    let mut connected = false;
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            return false;
        };
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                connected = true;
                for r in &requests {
                    swarm.behaviour_mut().send_request(&peer_id, r.clone());
                }
            }
            SwarmEvent::ConnectionClosed {
                num_established: 0, ..
            } if connected => return true,
            SwarmEvent::OutgoingConnectionError { .. } => return false,
            _ => {}
        }
    }
}

/// Connects to `addr` with gossipsub only, waits for the node's transaction topic, publishes
/// `count` distinct undecodable batches on it; returns whether the node closed the connection
/// within `limit`.
async fn gossip_attack(addr: Multiaddr, count: u8, limit: Duration) -> bool {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .heartbeat_interval(Duration::from_millis(200))
        // Anonymous messages have no author or sequence number: name them by their bytes,
        // or every publish after the first is a "duplicate".
        .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(m.data.clone()))
        .build()
        .unwrap();
    let behaviour: gossipsub::Behaviour =
        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).unwrap();
    let mut swarm = swarm(behaviour);
    swarm.dial(addr).unwrap();
    let deadline = tokio::time::Instant::now() + limit;
    let mut connected = false;
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            return false;
        };
        match event {
            SwarmEvent::ConnectionEstablished { .. } => connected = true,
            SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic, .. }) => {
                // The node's topic (an ident topic: its hash is its name).
                let ident = gossipsub::IdentTopic::new(topic.as_str());
                swarm.behaviour_mut().subscribe(&ident).unwrap();
                for i in 0..count {
                    // A count of 200 transactions and then nothing: never a batch.
                    let junk = vec![0xc8, 0x01, i, 0xff, 0xff];
                    let _ = swarm.behaviour_mut().publish(topic.clone(), junk);
                }
            }
            SwarmEvent::ConnectionClosed {
                num_established: 0, ..
            } if connected => return true,
            SwarmEvent::OutgoingConnectionError { .. } => return false,
            _ => {}
        }
    }
}

fn metric(c: &Cluster, i: usize, name: &str) -> u64 {
    let addr = NodeConfig::load(&c.configs[i]).unwrap().metrics_addr;
    let (_, body) = itc_node::client::request(addr, "GET", "/metrics", &[]).unwrap();
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn garbage_oversized_and_forged_peers_are_disconnected_and_the_cluster_is_unaffected() {
    let mut c = Cluster::init();
    c.start_all();
    let all: Vec<usize> = (0..N).collect();
    c.submit(&all, 20);
    c.wait("20 transfers", Duration::from_secs(60), |c| {
        c.converged(&all, 20)
    });

    let target: Multiaddr = NodeConfig::load(&c.configs[0])
        .unwrap()
        .listen
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // Oversized length prefixes and frames that do not decode.
    let too_big = u32::try_from(MAX_FRAME + 1).unwrap().to_be_bytes().to_vec();
    let mut bad = Vec::new();
    for i in 0..4u8 {
        bad.push(too_big.clone());
        bad.push(frame(&[0xff, i, 1, 2, 3]));
    }
    let closed = runtime.block_on(attack(target.clone(), bad, Duration::from_secs(20)));
    if !closed {
        c.dump_logs();
    }
    assert!(closed, "a peer sending garbage is disconnected");
    assert!(metric(&c, 0, "itc_malformed_frames_total") >= 5);

    // A forged binding (signed over another peer id): disconnected at once.
    let liar = SecretKey::from_bytes(&[9; 32]).unwrap();
    let binding = PeerBinding::sign(&liar, &Hash([0; 32]), b"not my peer id").unwrap();
    let hello = frame(&NodeRequest::Hello(Some(binding)).encode_to_vec());
    assert!(
        runtime.block_on(attack(target.clone(), vec![hello], Duration::from_secs(20))),
        "a peer with a forged binding is disconnected"
    );

    // Gossiped transaction batches that do not decode: struck per batch, then disconnected.
    let before = metric(&c, 0, "itc_malformed_frames_total");
    let closed = runtime.block_on(gossip_attack(target, 8, Duration::from_secs(20)));
    if !closed {
        c.dump_logs();
    }
    assert!(closed, "a peer gossiping garbage is disconnected");
    assert!(metric(&c, 0, "itc_malformed_frames_total") >= before + 5);

    // Node 0 and the cluster carry on.
    c.submit(&all, 30);
    c.wait("30 more after the attacks", Duration::from_secs(60), |c| {
        c.converged(&all, 50)
    });
    for i in 0..N {
        assert_eq!(c.status(i).unwrap().evidence, 0);
    }
}
