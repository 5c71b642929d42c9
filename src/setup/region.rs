//! The pixels a render covers: the region of interest (`-roi`, inclusive pixel bounds clipped to
//! the detector) and the optional mask image (`-mask`, whose zero pixels are not rendered).
//!
//! nanoBragg.c tests both at the top of its pixel loop:
//!
//! ```c
//! if(fpixel < roi_xmin || fpixel > roi_xmax || spixel < roi_ymin || spixel > roi_ymax) continue;
//! if(maskimage != NULL && maskimage[imgidx] == 0) continue;
//! ```
//!
//! Its statistics skip the same pixels. Its integer images and noise cover the region of
//! interest but ignore the mask (a masked pixel is 0 there because it was never rendered).

use std::ops::Range;
use std::sync::Arc;

/// The rendered pixels of a detector: a rectangle (inclusive bounds, clipped to the detector)
/// and an optional mask.
///
/// ```
/// use nanobragg::setup::Region;
///
/// // A 10 × 8 detector, fast pixels 2…5 and slow pixels 1…20 (clipped to 7).
/// let region = Region::new(10, 8, Some([2, 5, 1, 20]), None);
/// assert_eq!(region.fast(), 2..6);
/// assert_eq!(region.slow(), 1..8);
/// assert!(region.is_rendered(2, 7) && !region.is_rendered(6, 1));
/// assert_eq!(region.first_rendered(), Some((2, 1)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    width: usize,
    bounds: [usize; 4],
    mask: Option<Arc<Vec<u16>>>,
}

impl Region {
    /// The region of a `width` × `height` detector: `roi` is `[fast min, fast max, slow min,
    /// slow max]` (inclusive, as `-roi` takes it; the maxima are clipped to the detector), the
    /// whole detector when `None`. `mask` holds one value per pixel (slow-major); 0 = skip.
    ///
    /// # Panics
    /// If the mask does not hold `width × height` values (the setup checks its size first).
    pub fn new(
        width: usize,
        height: usize,
        roi: Option<[usize; 4]>,
        mask: Option<Arc<Vec<u16>>>,
    ) -> Region {
        assert!(mask.as_ref().is_none_or(|m| m.len() == width * height));
        let (fmax, smax) = (width.saturating_sub(1), height.saturating_sub(1));
        let bounds = match roi {
            Some([x0, x1, y0, y1]) => [x0, x1.min(fmax), y0, y1.min(smax)],
            None => [0, fmax, 0, smax],
        };
        Region {
            width,
            bounds,
            mask,
        }
    }

    /// `[fast min, fast max, slow min, slow max]`, inclusive and clipped (as nanoBragg reports
    /// them). The minima may exceed the maxima: the region is then empty.
    pub fn bounds(&self) -> [usize; 4] {
        self.bounds
    }

    /// The fast pixel indices of the region of interest (empty when it is).
    pub fn fast(&self) -> Range<usize> {
        span(self.bounds[0], self.bounds[1])
    }

    /// The slow pixel indices (rows) of the region of interest (empty when it is).
    pub fn slow(&self) -> Range<usize> {
        span(self.bounds[2], self.bounds[3])
    }

    /// Whether pixel `(f, s)` lies in the region of interest (the mask aside).
    #[inline]
    pub fn contains(&self, f: usize, s: usize) -> bool {
        self.fast().contains(&f) && self.slow().contains(&s)
    }

    /// Whether pixel `(f, s)` is rendered: in the region of interest and not masked.
    #[inline]
    pub fn is_rendered(&self, f: usize, s: usize) -> bool {
        self.contains(f, s) && self.row_mask(s).is_none_or(|m| m[f] != 0)
    }

    /// The mask values of row `s` (indexed by the fast pixel), if there is a mask.
    #[inline]
    pub fn row_mask(&self, s: usize) -> Option<&[u16]> {
        let w = self.width;
        self.mask.as_deref().map(|m| &m[s * w..(s + 1) * w])
    }

    /// Whether a mask is set.
    pub fn is_masked(&self) -> bool {
        self.mask.is_some()
    }

    /// The first rendered pixel in raster order (nanoBragg's first evaluation, which matters
    /// for the φ = 0 quirk Q1 under `compat`).
    pub fn first_rendered(&self) -> Option<(usize, usize)> {
        self.slow()
            .flat_map(|s| self.fast().map(move |f| (f, s)))
            .find(|&(f, s)| self.is_rendered(f, s))
    }
}

/// The indices `lo..=hi`, empty when `lo > hi`.
fn span(lo: usize, hi: usize) -> Range<usize> {
    if lo > hi { 0..0 } else { lo..hi + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn is_rendered_matches_the_c_tests(
            width in 1usize..12,
            height in 1usize..12,
            roi in prop::array::uniform4(0usize..14),
            masked in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mask = masked.then(|| {
                let bits = (0..width * height).map(|i| ((seed >> (i % 64)) & 1) as u16);
                Arc::new(bits.collect::<Vec<_>>())
            });
            let region = Region::new(width, height, Some(roi), mask.clone());
            let [x0, x1, y0, y1] = roi;
            for s in 0..height {
                for f in 0..width {
                    let outside = f < x0 || f > x1 || s < y0 || s > y1;
                    let skipped = mask.as_ref().is_some_and(|m| m[s * width + f] == 0);
                    prop_assert_eq!(region.contains(f, s), !outside);
                    prop_assert_eq!(region.is_rendered(f, s), !outside && !skipped);
                }
            }
            let first = (0..width * height)
                .map(|i| (i % width, i / width))
                .find(|&(f, s)| region.is_rendered(f, s));
            prop_assert_eq!(region.first_rendered(), first);
        }
    }

    #[test]
    fn an_inverted_region_is_empty() {
        let region = Region::new(8, 8, Some([5, 2, 0, 7]), None);
        assert_eq!(region.fast(), 0..0);
        assert_eq!(region.bounds(), [5, 2, 0, 7]);
        assert_eq!(region.first_rendered(), None);
    }
}
