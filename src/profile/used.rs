//! A profile cut down to what its samples use.

use super::Profile;

impl Profile {
    /// The profile with only the frames its samples use (stacks, creation sites, ancestors). A
    /// profile may list more (a proxy's or fleetsim's filtered profiles list the whole process's):
    /// the window's table would keep them all. A profile with an index out of range is left as it is.
    pub fn with_used_frames_only(self) -> Profile {
        let mut p = self;
        let n = p.frames.len();
        let mut used = vec![u32::MAX; n];
        let mut next = 0u32;
        let mut mark = |i: u32| -> bool {
            match used.get_mut(i as usize) {
                Some(slot) => {
                    if *slot == u32::MAX {
                        *slot = next;
                        next += 1;
                    }
                    true
                }
                None => false,
            }
        };
        for s in &p.samples {
            let facts = s.goroutine.as_ref();
            let all = s.stack.iter().chain(facts.and_then(|g| g.created_by.as_ref())).chain(facts.into_iter().flat_map(|g| g.ancestors.iter().flatten()));
            for &i in all {
                if !mark(i) {
                    return p;
                }
            }
        }
        if next as usize == n {
            return p;
        }
        let mut frames = vec![None; next as usize];
        for (old, f) in std::mem::take(&mut p.frames).into_iter().enumerate() {
            if let Some(&new) = used.get(old).filter(|&&u| u != u32::MAX) {
                frames[new as usize] = Some(f);
            }
        }
        p.frames = frames.into_iter().flatten().collect();
        let map = |i: &mut u32| *i = used[*i as usize];
        for s in &mut p.samples {
            s.stack.iter_mut().for_each(map);
            if let Some(g) = s.goroutine.as_mut() {
                g.created_by.iter_mut().for_each(map);
                g.ancestors.iter_mut().flatten().for_each(map);
            }
        }
        p
    }
}
