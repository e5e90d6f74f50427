pub mod admin;
pub mod auth;
pub mod deliveries;
pub mod imaging;
pub mod projects;
pub mod tasks;
pub mod tracks;
pub mod uploads;
