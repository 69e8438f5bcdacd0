//! The podcast feed of a story: RSS 2.0 with the iTunes namespace, one `<item>` per chapter
//! that has audio, each with an `<enclosure>` that is the chapter's signed link, so a podcast
//! app can subscribe with nothing but the feed's URL.
//!
//! Every text comes from a person or an LLM (titles, the author), so all of it is escaped;
//! numbers and signed URLs are escaped too (a URL's query holds `&`).

/// The iTunes podcast namespace, as Apple's podcast specification names it.
pub const ITUNES_NS: &str = "http://www.itunes.com/dtds/podcast-1.0.dtd";

/// The show: the story.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel<'a> {
    pub story_id: &'a str,
    pub title: &'a str,
    pub author: Option<&'a str>,
    /// The feed's own (signed) URL.
    pub link: &'a str,
    /// The cover's signed URL, when there is a cover.
    pub image: Option<&'a str>,
}

/// One episode: a chapter with audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub number: u32,
    pub title: String,
    /// The chapter's signed link, absolute.
    pub url: String,
    /// Exactly what `url` serves (tag and audio).
    pub bytes: u64,
    pub duration_secs: Option<u64>,
}

/// The feed's XML. `story_id` makes each `guid` stable across new links and fetches, so an
/// app does not see the chapters as new episodes each time.
pub fn rss(c: &Channel, items: &[Item]) -> String {
    let mut out = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:itunes=\"{ITUNES_NS}\">\n<channel>\n");
    let title = if c.title.trim().is_empty() { "talecast" } else { c.title };
    let description = match c.author {
        Some(a) => format!("{title} by {a}, an audiobook made by talecast"),
        None => format!("{title}, an audiobook made by talecast"),
    };
    out.push_str(&format!("<title>{}</title>\n<link>{}</link>\n", escape(title), escape(c.link)));
    out.push_str(&format!("<description>{}</description>\n", escape(&description)));
    if let Some(a) = c.author {
        out.push_str(&format!("<itunes:author>{}</itunes:author>\n", escape(a)));
    }
    if let Some(href) = c.image {
        out.push_str(&format!("<itunes:image href=\"{}\"/>\n", escape(href)));
    }
    // Chapters are heard in order: a serial show lists episode 1 first.
    out.push_str("<itunes:type>serial</itunes:type>\n<itunes:explicit>false</itunes:explicit>\n");
    for item in items {
        out.push_str(&format!(
            "<item>\n<title>{}</title>\n<guid isPermaLink=\"false\">talecast:{}:chapter:{}</guid>\n\
             <enclosure url=\"{}\" length=\"{}\" type=\"audio/mpeg\"/>\n<itunes:episode>{}</itunes:episode>\n",
            escape(&item.title),
            escape(c.story_id),
            item.number,
            escape(&item.url),
            item.bytes,
            item.number,
        ));
        if let Some(secs) = item.duration_secs {
            out.push_str(&format!("<itunes:duration>{secs}</itunes:duration>\n"));
        }
        out.push_str("</item>\n");
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

/// Text and attribute values: `&` first, then the characters that end text or attributes.
/// Control characters other than tab and newline are not allowed in XML 1.0 at all: dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u32) -> Item {
        Item {
            number: n,
            title: format!("Chapter {n}"),
            url: format!("https://x.example/l/s/chapters/{n}.mp3?exp=1&gen=0&sig=a-b_c"),
            bytes: 1000 + n as u64,
            duration_secs: Some(600 + n as u64),
        }
    }

    fn channel<'a>(title: &'a str, author: Option<&'a str>, image: Option<&'a str>) -> Channel<'a> {
        Channel { story_id: "s", title, author, link: "https://x.example/api/v1/stories/s/feed.xml?exp=1&gen=0&sig=z", image }
    }

    #[test]
    fn one_item_per_chapter_with_its_enclosure() {
        let xml = rss(&channel("The Lighthouse", Some("Ada"), Some("https://x.example/l/s/cover?exp=1&gen=0&sig=y")), &[item(1), item(2)]);
        assert!(xml.starts_with(&format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:itunes=\"{ITUNES_NS}\">")));
        assert!(xml.contains("<title>The Lighthouse</title>"));
        assert!(xml.contains("<link>https://x.example/api/v1/stories/s/feed.xml?exp=1&amp;gen=0&amp;sig=z</link>"));
        assert!(xml.contains("<itunes:author>Ada</itunes:author>"));
        assert!(xml.contains("<description>The Lighthouse by Ada, an audiobook made by talecast</description>"));
        assert!(xml.contains("<itunes:image href=\"https://x.example/l/s/cover?exp=1&amp;gen=0&amp;sig=y\"/>"));
        assert_eq!(xml.matches("<item>").count(), 2);
        assert!(xml.contains(
            "<enclosure url=\"https://x.example/l/s/chapters/2.mp3?exp=1&amp;gen=0&amp;sig=a-b_c\" length=\"1002\" type=\"audio/mpeg\"/>"
        ));
        assert!(xml.contains("<guid isPermaLink=\"false\">talecast:s:chapter:1</guid>"));
        assert!(xml.contains("<itunes:episode>2</itunes:episode>\n<itunes:duration>602</itunes:duration>"));
        assert!(xml.trim_end().ends_with("</channel>\n</rss>"));
    }

    #[test]
    fn no_author_or_cover_leaves_their_elements_out() {
        let mut one = item(1);
        one.duration_secs = None;
        let xml = rss(&channel("T", None, None), &[one]);
        assert!(!xml.contains("itunes:author") && !xml.contains("itunes:image") && !xml.contains("itunes:duration"), "{xml}");
        assert!(xml.contains("<description>T, an audiobook made by talecast</description>"));
    }

    #[test]
    fn titles_are_escaped_and_an_empty_feed_is_still_a_feed() {
        let xml = rss(&channel("Tom & \"Jerry\" <3\u{1}", Some("<b>O'Brien</b>"), None), &[]);
        assert!(xml.contains("<title>Tom &amp; &quot;Jerry&quot; &lt;3</title>"), "{xml}");
        assert!(xml.contains("<itunes:author>&lt;b&gt;O&apos;Brien&lt;/b&gt;</itunes:author>"), "{xml}");
        assert_eq!(xml.matches("<item>").count(), 0);
        assert!(rss(&channel("  ", None, None), &[]).contains("<title>talecast</title>"));
        let mut evil = item(1);
        evil.title = "]]></title><item>".into();
        let xml = rss(&channel("T", None, None), &[evil]);
        assert_eq!(xml.matches("<item>").count(), 1, "{xml}");
    }
}
