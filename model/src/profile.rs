//! Semantic profiles (kernel eras) and variants (injected bugs and rule
//! mutations). Names are stable strings: scenario files and `--profile` /
//! `--variant` use them, and `klpcheck list` prints them.

/// Which kernel's rules the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// Current mainline (v6.13+ core.c, 6.4+ transition.c).
    #[default]
    Mainline,
}

impl Profile {
    pub const ALL: &'static [Profile] = &[Profile::Mainline];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Mainline => "mainline",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Profile::Mainline => {
                "current kernel: klp_enable_patch from module_init, no stacking order, replaced \
                 patches kept until after post_patch (5.5), force marks only removed patches (5.18)"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.iter().copied().find(|p| p.name() == name)
    }
}

/// A deliberate deviation from the profile's rules, to show that the checker
/// catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Variant {
    /// The profile's rules, unchanged.
    #[default]
    None,
}

impl Variant {
    pub const ALL: &'static [Variant] = &[Variant::None];

    pub fn name(self) -> &'static str {
        match self {
            Variant::None => "none",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Variant::None => "the profile's rules, unchanged",
        }
    }

    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.iter().copied().find(|v| v.name() == name)
    }
}
