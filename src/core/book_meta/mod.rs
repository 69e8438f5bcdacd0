//! What a download says about itself besides its audio: the ID3v2 tag written in front of the
//! stored MP3 at download time (`id3`), the cover image it may carry (`cover`), and how a byte
//! range of tag-plus-object maps onto the pieces it is read from (`splice`).

pub mod cover;
pub mod id3;
pub mod splice;
