//! A report as a list of blocks, rendered to Markdown (`markdown.rs`) and HTML (`html.rs`).
//! Text may contain `code` spans (backticks); nothing else is interpreted.

use std::path::PathBuf;

pub use crate::output::Table;

#[derive(Debug, Clone, PartialEq)]
pub struct FigureRef {
    pub title: String,
    /// File names relative to the report directory.
    pub png: String,
    pub svg: String,
    /// Where the PNG lies now (read when the HTML embeds it).
    pub png_path: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Paragraph(String),
    List(Vec<String>),
    Table(Table),
    Figure(FigureRef),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading(level, text.into()));
    }

    pub fn para(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }

    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    pub fn table(&mut self, table: Table) {
        self.blocks.push(Block::Table(table));
    }

    pub fn figure(&mut self, figure: FigureRef) {
        self.blocks.push(Block::Figure(figure));
    }
}
