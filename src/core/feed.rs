//! The podcast feed of a story: RSS 2.0, one `<item>` per chapter that has audio, each with an
//! `<enclosure>` that is the chapter's signed link, so a podcast app can subscribe with nothing
//! but the feed's URL.
//!
//! Deliberately minimal (what an app needs to list and play the chapters); book metadata,
//! the iTunes namespace and covers are meant to be added here (issue 13).

/// One episode: a chapter with audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub number: u32,
    pub title: String,
    /// The chapter's signed link, absolute.
    pub url: String,
    pub bytes: u64,
}

/// The feed's XML. `link` is the feed's own (signed) URL; `story_id` makes each `guid`
/// stable across new links, so an app does not see the chapters as new episodes each time.
pub fn rss(title: &str, story_id: &str, link: &str, items: &[Item]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n<channel>\n");
    let title = if title.trim().is_empty() { "talecast" } else { title };
    out.push_str(&format!("<title>{}</title>\n<link>{}</link>\n", escape(title), escape(link)));
    out.push_str(&format!("<description>{}</description>\n", escape(&format!("{title}, an audiobook made by talecast"))));
    for item in items {
        out.push_str(&format!(
            "<item>\n<title>{}</title>\n<guid isPermaLink=\"false\">talecast:{}:chapter:{}</guid>\n\
             <enclosure url=\"{}\" length=\"{}\" type=\"audio/mpeg\"/>\n</item>\n",
            escape(&item.title),
            escape(story_id),
            item.number,
            escape(&item.url),
            item.bytes,
        ));
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
        Item { number: n, title: format!("Chapter {n}"), url: format!("https://x.example/l/s/chapters/{n}.mp3?exp=1&gen=0&sig=a-b_c"), bytes: 1000 + n as u64 }
    }

    #[test]
    fn one_item_per_chapter_with_its_enclosure() {
        let xml = rss("The Lighthouse", "s", "https://x.example/l/s/feed.xml?exp=1&gen=0&sig=z", &[item(1), item(2)]);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">"));
        assert!(xml.contains("<title>The Lighthouse</title>"));
        assert!(xml.contains("<link>https://x.example/l/s/feed.xml?exp=1&amp;gen=0&amp;sig=z</link>"));
        assert_eq!(xml.matches("<item>").count(), 2);
        assert!(xml.contains(
            "<enclosure url=\"https://x.example/l/s/chapters/2.mp3?exp=1&amp;gen=0&amp;sig=a-b_c\" length=\"1002\" type=\"audio/mpeg\"/>"
        ));
        assert!(xml.contains("<guid isPermaLink=\"false\">talecast:s:chapter:1</guid>"));
        assert!(xml.trim_end().ends_with("</channel>\n</rss>"));
    }

    #[test]
    fn titles_are_escaped_and_an_empty_feed_is_still_a_feed() {
        let xml = rss("Tom & \"Jerry\" <3\u{1}", "s", "u", &[]);
        assert!(xml.contains("<title>Tom &amp; &quot;Jerry&quot; &lt;3</title>"), "{xml}");
        assert_eq!(xml.matches("<item>").count(), 0);
        assert!(rss("  ", "s", "u", &[]).contains("<title>talecast</title>"));
    }
}
