# EResFD for the mobile export: TorchScript source, compiled by libtorch (`export/shim.cpp`), never
# run by Python. Written for this project from `docs/upstream.md` (§eresfd to §detect); it is the
# same network, op for op, as `src/model/eresfd.rs` plus the detection step of
# `src/model/detect.rs`.
#
# `self.w` is a `Dict[str, Tensor]` holding the checkpoint under upstream's canonical state-dict
# keys, so every layer below is named as in the `.pth` file. Freezing turns each lookup with a
# constant key into a constant weight, which is what lets optimize-for-mobile fold and prepack
# the convolutions. The settings (input mean, anchor steps and sizes, box variances, detection
# thresholds, FPN fusion eps, BatchNorm eps) come from the Rust side's one home of each, as the
# small methods that `export/source.rs` prepends.
#
# Only `torch.<aten op>` names resolve here (libtorch's native resolver): no `F.`, no dtypes.


def conv(self, x: Tensor, key: str, stride: int) -> Tensor:
    # `nn.Conv2d` with zero padding k // 2 and the bias when the checkpoint has one.
    weight = self.w[key + ".weight"]
    pad = weight.size(3) // 2
    bias: Optional[Tensor] = None
    if key + ".bias" in self.w:
        bias = self.w[key + ".bias"]
    return torch.conv2d(x, weight, bias, [stride, stride], [pad, pad], [1, 1], 1)


def conv_bn(self, x: Tensor, conv: str, bn: str, stride: int, relu: bool) -> Tensor:
    # An upstream `nn.Sequential(conv, BatchNorm2d[, ReLU])`; BatchNorm in eval mode
    # (running statistics).
    y = torch.batch_norm(
        self.conv(x, conv, stride),
        self.w[bn + ".weight"],
        self.w[bn + ".bias"],
        self.w[bn + ".running_mean"],
        self.w[bn + ".running_var"],
        False,
        self.bn_momentum(),
        self.bn_eps(),
        True,
    )
    if relu:
        y = torch.relu(y)
    return y


def conv_block(self, x: Tensor, key: str, stride: int) -> Tensor:
    # `ConvBlock` (§eresfd): two 3x3 layers plus a shortcut (1x1 conv + BN when strided), summed
    # with no activation after the sum.
    a = self.conv_bn(x, key + ".res_layer.0", key + ".res_layer.1", stride, True)
    r = self.conv_bn(a, key + ".res_layer.3", key + ".res_layer.4", 1, False)
    if stride == 2:
        return r + self.conv_bn(
            x, key + ".shortcut_layer.0", key + ".shortcut_layer.1", 2, False
        )
    return r + x


def stage(self, x: Tensor, key: str, blocks: int) -> Tensor:
    # `base.m0.layerK`: a strided block, then stride-1 ones.
    y = self.conv_block(x, key + ".0", 2)
    for i in range(1, blocks):
        y = self.conv_block(y, key + "." + str(i), 1)
    return y


def fuse(self, wn: Tensor, x: Tensor, y: Tensor, c: int) -> Tensor:
    # The FPN's weighted sum with fusion column c: (a*x + b*y) / ((a + b) + eps).
    a = wn[0][c]
    b = wn[1][c]
    return (a * x + b * y) / ((a + b) + self.fusion_eps())


def top_down(self, wn: Tensor, lateral: Tensor, target: Tensor, c: int) -> Tensor:
    # Fuses a lateral with `target` resized to it by nearest neighbour (`F.interpolate(size=)`).
    resized = torch.upsample_nearest2d(target, [lateral.size(2), lateral.size(3)])
    return self.fuse(wn, lateral, resized, c)


def fpn(self, s: List[Tensor]) -> List[Tensor]:
    # `FullySepFPN` as upstream's released weights were trained with it (§eresfd-fpn): five
    # laterals; the sixth output is the level-4 lateral again. `w1[:, 4]` is negative in every
    # released checkpoint, so the first top-down value is all zeros; it is computed, not
    # special-cased.
    key = "base.m0.layer6"
    w = torch.relu(self.w[key + ".w1"])
    wn = w / (torch.sum(w, [0]) + self.fusion_eps())
    lat: List[Tensor] = []
    for k in range(5):
        p = key + ".laterals." + str(k) + ".conv"
        lat.append(self.conv_bn(s[k], p + ".0", p + ".1", 1, True))
    h0 = self.top_down(wn, lat[4], lat[4], 4)
    t3 = self.top_down(wn, lat[3], s[4], 3)
    t2 = self.top_down(wn, lat[2], t3, 2)
    t1 = self.top_down(wn, lat[1], t2, 1)
    t0 = self.top_down(wn, lat[0], t1, 0)
    out = [t0]
    for k, t in enumerate([t1, t2, t3, h0]):
        p = key + ".itm." + str(k) + ".conv"
        out.append(self.fuse(wn, self.conv_bn(t, p + ".0", p + ".1", 1, True), s[k + 1], k + 5))
    out.append(lat[4])
    return out


def fem(self, x: Tensor, key: str) -> Tensor:
    # `CPM3_BN` (§eresfd): three chained conv-BN-ReLU branches, concatenated.
    r1 = self.conv_bn(x, key + ".res_branch1.0", key + ".res_branch1.1", 1, True)
    r2 = self.conv_bn(r1, key + ".res_branch2.0", key + ".res_branch2.1", 1, True)
    r2 = self.conv_bn(r2, key + ".res_branch2.3", key + ".res_branch2.4", 1, True)
    r3 = self.conv_bn(r2, key + ".res_branch3.0", key + ".res_branch3.1", 1, True)
    r3 = self.conv_bn(r3, key + ".res_branch3.3", key + ".res_branch3.4", 1, True)
    return torch.cat([r1, r2, r3], 1)


def features(self, x: Tensor) -> List[Tensor]:
    # Stem, encoder (layer5 feeds nothing at inference and is skipped), FPN, FEMs.
    y = self.conv_bn(x, "base.conv1.0", "base.conv1.1", 4, False)
    y = self.conv_bn(y, "base.conv2.0", "base.conv2.1", 1, True)
    y = self.conv_bn(y, "base.conv3.0", "base.conv3.1", 1, True)
    s = [self.conv_block(y, "base.conv4", 1)]
    for k, blocks in enumerate([3, 3, 3, 2]):
        s.append(self.stage(s[k], "base.m0.layer" + str(k + 1), blocks))
    levels = self.fpn(s)
    return [self.fem(levels[k], "base.m0.layer" + str(k + 7)) for k in range(6)]


def heads(self, f: List[Tensor]) -> Tuple[Tensor, Tensor, List[List[int]]]:
    # loc [P, 4] offsets and conf [P, 2] logits, anchors in order level, row, column (§head), and
    # each level's grid; level 0 max-pools its background logits into one.
    locs: List[Tensor] = []
    confs: List[Tensor] = []
    grids: List[List[int]] = []
    for k in range(len(f)):
        a = torch.relu(f[k])
        l = self.conv(a, "loc." + str(k), 1)
        c = self.conv(a, "conf." + str(k), 1)
        if k == 0:
            m = self.maxout_bg()
            c = torch.cat([torch.amax(c.narrow(1, 0, m), [1], True), c.narrow(1, m, 1)], 1)
        grids.append([l.size(2), l.size(3)])
        locs.append(l.permute([0, 2, 3, 1]).contiguous().view([-1, 4]))
        confs.append(c.permute([0, 2, 3, 1]).contiguous().view([-1, 2]))
    return torch.cat(locs, 0), torch.cat(confs, 0), grids


def priors(self, height: int, width: int, grids: List[List[int]]) -> Tensor:
    # [P, 4] (cx, cy, w, h) normalised (§priors): upstream's float64 expressions, rounded once to
    # float32. The grids are the heads' own, so the sixth level sits on the fifth's grid.
    steps = self.anchor_steps()
    sizes = self.anchor_sizes()
    out: List[Tensor] = []
    for k in range(len(grids)):
        gh = grids[k][0]
        gw = grids[k][1]
        f_w = float(width) / float(steps[k])
        f_h = float(height) / float(steps[k])
        cx = ((torch.arange(gw).double() + 0.5) / f_w).view([1, gw]).expand([gh, gw])
        cy = ((torch.arange(gh).double() + 0.5) / f_h).view([gh, 1]).expand([gh, gw])
        sw = torch.full_like(cx, float(sizes[k]) / float(width))
        sh = torch.full_like(cx, (float(sizes[k]) / float(height)) * 1.0)
        out.append(torch.stack([cx, cy, sw, sh], 2).view([-1, 4]).float())
    return torch.cat(out, 0)


def decode(self, loc: Tensor, priors: Tensor) -> Tensor:
    # Offsets + priors -> (x1, y1, x2, y2) normalised, no clamping (§decode).
    v = self.variance()
    p_xy = priors.narrow(1, 0, 2)
    p_wh = priors.narrow(1, 2, 2)
    cxy = p_xy + (loc.narrow(1, 0, 2) * v[0]) * p_wh
    wh = p_wh * torch.exp(loc.narrow(1, 2, 2) * v[1])
    x1y1 = cxy - wh / 2.0
    x2y2 = wh + x1y1
    return torch.cat([x1y1, x2y2], 1)


def nms(self, boxes: Tensor, scores: Tensor) -> List[int]:
    # Upstream's greedy NMS (§detect): the top scores by the non-stable ascending sort, visited from
    # the highest; IoU without +1; at most top_k kept.
    x1 = boxes.select(1, 0)
    y1 = boxes.select(1, 1)
    x2 = boxes.select(1, 2)
    y2 = boxes.select(1, 3)
    area = (x2 - x1) * (y2 - y1)
    order = torch.sort(scores, 0)[1]
    n = order.size(0)
    top = self.nms_top_k()
    idx = order.narrow(0, max(n - top, 0), min(n, top))
    keep: List[int] = []
    while idx.size(0) > 0 and len(keep) < self.top_k():
        last = idx.size(0) - 1
        i = int(idx[last])
        keep.append(i)
        if last == 0:
            break
        idx = idx.narrow(0, 0, last)
        xx1 = torch.clamp_min(x1.index_select(0, idx), x1[i])
        yy1 = torch.clamp_min(y1.index_select(0, idx), y1[i])
        xx2 = torch.clamp_max(x2.index_select(0, idx), x2[i])
        yy2 = torch.clamp_max(y2.index_select(0, idx), y2[i])
        inter = torch.clamp_min(xx2 - xx1, 0.0) * torch.clamp_min(yy2 - yy1, 0.0)
        union = (area.index_select(0, idx) - inter) + area[i]
        idx = idx.masked_select(inter / union <= self.nms_thresh())
    return keep


def forward(self, image: Tensor) -> Tensor:
    # image: [H, W, 3] RGB, uint8 or float in 0..255. Returns [K, 5] float32 rows
    # (score, x1, y1, x2, y2), boxes in pixels of the image, by descending score.
    height = image.size(0)
    width = image.size(1)
    x = image.permute([2, 0, 1]).float() - self.rgb_mean().view([3, 1, 1])
    loc, conf, grids = self.heads(self.features(x.unsqueeze(0)))
    boxes = self.decode(loc, self.priors(height, width, grids))
    scores = torch.softmax(conf, -1).select(1, 1)
    mask = scores > self.conf_thresh()
    scores = scores.masked_select(mask)
    boxes = boxes.masked_select(mask.unsqueeze(1).expand_as(boxes)).view([-1, 4])
    if scores.size(0) == 0:
        return torch.zeros([0, 5])
    keep = torch.tensor(self.nms(boxes, scores))
    pixels = torch.tensor([width, height, width, height]).float()
    return torch.cat(
        [scores.index_select(0, keep).unsqueeze(1), boxes.index_select(0, keep) * pixels], 1
    )
